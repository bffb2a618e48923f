package httpapi

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// The _replicator database's document rules
// (couch_replicator_docs:before_doc_update/3 and after_doc_read/2): every
// replication document has an "owner", the user who wrote it; only its
// owner or a db admin may change it; and anyone else who may read the
// database sees it without the credentials of its source and target.

const replicatorDB = "_replicator"

// replicatorRole marks the replicator's own user context, which writes
// state fields into anyone's documents.
const replicatorRole = "_replicator"

var errNotOwner = couch.Errorf(couch.CodeForbidden, "Can't update replication documents from other users.")

// replicatorBeforeUpdate sets or checks the owner of a _replicator document
// written by u. A document without an owner gets u's name (null for the
// anonymous user); one owned by somebody else may only be written by a db
// admin, who also claims documents whose owner is null. Replicated writes
// (new_edits=false) are checked but not rewritten: their revision id was
// computed from the body as sent.
func (a *API) replicatorBeforeUpdate(ctx context.Context, u *userCtx, d *couch.Doc, newEdits bool) error {
	if strings.HasPrefix(d.ID, "_design/") || strings.HasPrefix(d.ID, "_local/") || slices.Contains(u.roles, replicatorRole) {
		return nil
	}
	owner, found := jsonMember(d.Body, "owner")
	switch {
	case !found:
		if newEdits && !d.Deleted {
			d.Body = setMember(d.Body, "owner", nameJSON(u))
		}
		return nil
	case u.name != "" && bytes.Equal(owner, rawjson.AppendString(nil, u.name)):
		return nil
	}
	if err := a.checkIsAdmin(ctx, u, replicatorDB); err != nil {
		return errNotOwner
	}
	if string(owner) == "null" && newEdits {
		d.Body = setMember(d.Body, "owner", nameJSON(u))
	}
	return nil
}

// replicatorRedactor returns the after_doc_read filter for u reading
// _replicator, or nil when there is nothing to hide: for other databases
// and for db admins. (_all_docs and _changes of _replicator are for
// server admins only, so document reads are what it guards.)
func (a *API) replicatorRedactor(ctx context.Context, u *userCtx, db string) func(*couch.Revision) {
	if db != replicatorDB || a.checkIsAdmin(ctx, u, db) == nil {
		return nil
	}
	self := rawjson.AppendString(nil, u.name)
	return func(rv *couch.Revision) {
		if rv == nil || rv.Body == nil {
			return
		}
		if owner, _ := jsonMember(rv.Body, "owner"); u.name != "" && bytes.Equal(owner, self) {
			return
		}
		rv.Body = stripRepCredentials(rv.Body)
	}
}

// openDoc reads a document for the request's user: the backend's read,
// then the database's after_doc_read rules (a _replicator document of
// another owner loses its credentials). Every handler that returns stored
// revisions to a client reads through it.
func (a *API) openDoc(rq *request, db, id string, opts fabric.ReadOptions) (*couch.Document, error) {
	doc, err := a.b.OpenDoc(rq.ctx, db, id, opts)
	if doc == nil || couch.IsDesignID(doc.ID) {
		return doc, err
	}
	if redact := a.replicatorRedactor(rq.ctx, &rq.user, db); redact != nil {
		for i := range doc.Revisions {
			redact(&doc.Revisions[i])
		}
	}
	return doc, err
}

// urlCredentials matches the user:password@ of a source or target URL,
// as couch_replicator_docs:strip_credentials/1 does.
var urlCredentials = regexp.MustCompile(`^http(s)?://(?:[^:]+):[^@]+@(.*)$`)

// stripRepCredentials removes the credentials of a replication document's
// "source" and "target": userinfo from a URL string, "headers" and "auth"
// (and the url's userinfo) from an endpoint object.
func stripRepCredentials(body []byte) []byte {
	out := make([]byte, 0, len(body))
	out = append(out, '{')
	n := 0
	err := rawjson.Members(body, func(m rawjson.Member) error {
		v := m.Value
		if m.Key == "source" || m.Key == "target" {
			v = stripEndpoint(v)
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = append(out, m.RawKey...)
		out = append(out, ':')
		out = append(out, v...)
		return nil
	})
	if err != nil {
		// Stored bodies are valid JSON objects; should one not be,
		// show nothing rather than what might hold a password.
		return []byte("{}")
	}
	return append(out, '}')
}

func stripEndpoint(v []byte) []byte {
	if s, ok := rawjson.String(v); ok {
		return rawjson.AppendString(nil, urlCredentials.ReplaceAllString(s, "http$1://$2"))
	}
	if len(bytes.TrimSpace(v)) == 0 || bytes.TrimSpace(v)[0] != '{' {
		return v
	}
	out := []byte{'{'}
	n := 0
	if err := rawjson.Members(v, func(m rawjson.Member) error {
		if m.Key == "headers" || m.Key == "auth" {
			return nil
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = append(out, m.RawKey...)
		out = append(out, ':')
		if s, ok := rawjson.String(m.Value); ok && m.Key == "url" {
			// CouchDB leaves userinfo in an object's url; Divan hides it
			// there too.
			out = rawjson.AppendString(out, urlCredentials.ReplaceAllString(s, "http$1://$2"))
			return nil
		}
		out = append(out, m.Value...)
		return nil
	}); err != nil {
		return []byte("{}")
	}
	return append(out, '}')
}

// jsonMember returns the raw value of the first top-level member key of
// the object body.
func jsonMember(body []byte, key string) (value []byte, found bool) {
	vals, err := firstMembers(body, key)
	if err != nil || vals[0] == nil {
		return nil, false
	}
	return bytes.TrimSpace(vals[0]), true
}

// firstMembers returns the raw values of the first members named keys of
// the JSON object raw, nil for a key it lacks (first wins, as CouchDB's
// proplist lookups of a decoded object do).
func firstMembers(raw []byte, keys ...string) ([][]byte, error) {
	vals := make([][]byte, len(keys))
	err := rawjson.Members(raw, func(m rawjson.Member) error {
		for i, k := range keys {
			if m.Key == k && vals[i] == nil {
				vals[i] = m.Value
			}
		}
		return nil
	})
	return vals, err
}

// setMember returns body with member key set to the raw JSON value: in
// place when present, else appended (lists:keystore's order).
func setMember(body []byte, key string, value []byte) []byte {
	out := []byte{'{'}
	n, replaced := 0, false
	_ = rawjson.Members(body, func(m rawjson.Member) error {
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = append(out, m.RawKey...)
		out = append(out, ':')
		if m.Key == key && !replaced {
			out = append(out, value...)
			replaced = true
		} else {
			out = append(out, m.Value...)
		}
		return nil
	})
	if !replaced {
		if n > 0 {
			out = append(out, ',')
		}
		out = rawjson.AppendString(out, key)
		out = append(out, ':')
		out = append(out, value...)
	}
	return append(out, '}')
}

// nameJSON is u's name as JSON: a string, or null for the anonymous user.
func nameJSON(u *userCtx) []byte {
	if u.name == "" {
		return []byte("null")
	}
	return rawjson.AppendString(nil, u.name)
}
