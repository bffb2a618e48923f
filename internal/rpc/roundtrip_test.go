package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/shard"
)

// copyAPI is everything fabric and internal replication call on a copy.
type copyAPI interface {
	fabric.Copy
	Changes(ctx context.Context, since uint64, fn func(shard.Change) error) error
	ChangesDescending(ctx context.Context, since uint64, fn func(shard.Change) error) error
	CountChanges(ctx context.Context, since uint64) (int64, error)
	ReadWinner(ctx context.Context, c shard.Change) (*couch.Revision, error)
	Changed() <-chan struct{}
	LocalDocs(ctx context.Context) ([]shard.LocalDoc, error)
	PurgeInfos(ctx context.Context, since uint64, limit int) ([]shard.PurgeInfo, error)
}

var (
	_ copyAPI = (*shard.Shard)(nil)
	_ copyAPI = (*RemoteCopy)(nil)
)

// parseDoc parses a document as fabric would hand it to a copy, with inline
// attachments decoded.
func parseDoc(t testing.TB, js string) *couch.Doc {
	t.Helper()
	d, err := couch.ParseDoc([]byte(js))
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	if d.Attachments != nil {
		if d.Atts, err = couch.ParseAttachments(d.Attachments, couch.DefaultAttachmentPolicy()); err != nil {
			t.Fatalf("parse attachments of %s: %v", js, err)
		}
	}
	return d
}

const hex32a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// TestRoundTrip runs the same sequence of calls on a local copy and, over
// gRPC, on a copy of another node with the same history, and requires the
// same results and the same errors from both.
func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	const name = "shards/00000000-ffffffff/db.1700000000"
	localStore, err := shard.Open(ctx, shard.Options{Dir: t.TempDir(), MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = localStore.Close() })
	local := mustCreate(t, localStore, name)
	n2 := startNode(t, "n2@127.0.0.1")
	mustCreate(t, n2.store, name)
	client := newClient(t, newResolver(n2))
	remote, err := client.Dial(ctx, n2.name, name)
	if err != nil {
		t.Fatal(err)
	}

	// revs are filled by the steps as they run; rev ids are deterministic,
	// so both copies produce the same ones (or the comparison fails).
	revs := map[string]couch.Rev{}
	update := func(newEdits bool, docs ...string) func(context.Context, copyAPI) (any, error) {
		return func(ctx context.Context, c copyAPI) (any, error) {
			ds := make([]*couch.Doc, len(docs))
			for i, js := range docs {
				ds[i] = parseDoc(t, js)
			}
			res, err := c.Update(ctx, ds, couch.UpdateOptions{NewEdits: newEdits})
			for _, r := range res {
				if r.Err == nil {
					revs[r.ID] = r.Rev
				}
			}
			return res, err
		}
	}
	open := func(id string, opts func() couch.OpenOptions) func(context.Context, copyAPI) (any, error) {
		return func(ctx context.Context, c copyAPI) (any, error) {
			return c.Open(ctx, id, opts())
		}
	}
	plain := func() couch.OpenOptions { return couch.OpenOptions{} }
	security := func(ctx context.Context, c copyAPI) (any, error) {
		sec, version, err := c.Security(ctx)
		return []any{string(sec), version}, err
	}
	docs := func(q shard.DocsQuery) func(context.Context, copyAPI) (any, error) {
		return func(ctx context.Context, c copyAPI) (any, error) {
			var rows []shard.DocRow
			err := c.Docs(ctx, q, func(r shard.DocRow) error {
				rows = append(rows, r)
				return nil
			})
			return rows, err
		}
	}
	changes := func(since uint64, descending bool) func(context.Context, copyAPI) (any, error) {
		return func(ctx context.Context, c copyAPI) (any, error) {
			var out []shard.Change
			fn := func(ch shard.Change) error {
				out = append(out, ch)
				return nil
			}
			if descending {
				return out, c.ChangesDescending(ctx, since, fn)
			}
			err := c.Changes(ctx, since, fn)
			return out, err
		}
	}
	str := func(s string) *string { return &s }
	other := couch.Rev{Pos: 9, ID: "ffffffffffffffffffffffffffffffff"}

	steps := []struct {
		name    string
		run     func(context.Context, copyAPI) (any, error)
		wantErr error
	}{
		{name: "info of empty copy", run: func(ctx context.Context, c copyAPI) (any, error) { return c.Info(ctx) }},
		{name: "update new docs", run: update(true,
			`{"_id":"a","v":1,"z":"é\u00e9","n":1.50}`,
			`{"_id":"b","x":[1,2]}`,
			`{"_id":"c","n":"c"}`,
			`{"_id":"_local/l","l":1}`,
			`{"_id":"_design/d","views":{}}`,
		)},
		{name: "update conflict", run: update(true, `{"_id":"a","v":2}`)},
		{name: "update stale rev", run: update(true, `{"_id":"a","_rev":"1-`+hex32a+`","v":2}`)},
		{name: "update with attachment", run: update(true,
			`{"_id":"e","_attachments":{"hello.txt":{"content_type":"text/plain","data":"aGVsbG8gd29ybGQ="}}}`)},
		{name: "update with attachment stub", run: func(ctx context.Context, c copyAPI) (any, error) {
			return update(true, `{"_id":"e","_rev":"`+revs["e"].String()+`","w":1,"_attachments":{"hello.txt":{"stub":true}}}`)(ctx, c)
		}},
		{name: "update stub of unknown attachment", run: func(ctx context.Context, c copyAPI) (any, error) {
			return update(true, `{"_id":"e","_rev":"`+revs["e"].String()+`","_attachments":{"nope":{"stub":true}}}`)(ctx, c)
		}},
		{name: "update replicated conflict branch", run: update(false,
			`{"_id":"b","_revisions":{"start":2,"ids":["bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","`+hex32a+`"]},"y":true}`)},
		{name: "delete", run: func(ctx context.Context, c copyAPI) (any, error) {
			return update(true, `{"_id":"c","_rev":"`+revs["c"].String()+`","_deleted":true}`)(ctx, c)
		}},
		{name: "replicate local docs", run: func(ctx context.Context, c copyAPI) (any, error) {
			_, err := c.Update(ctx, []*couch.Doc{
				{ID: "_local/r", Rev: couch.Rev{ID: "7"}, Body: []byte(`{"r":1}`), LocalVersion: 42},
				{ID: "_local/t", Rev: couch.Rev{ID: "3"}, Deleted: true, LocalVersion: 43},
			}, couch.UpdateOptions{NewEdits: true, ReplicateLocal: true})
			if err != nil {
				return nil, err
			}
			var out []shard.LocalDoc
			docs, err := c.LocalDocs(ctx)
			for _, d := range docs {
				if d.ID == "_local/r" || d.ID == "_local/t" {
					out = append(out, d) // stored as given: exact stamps and N
				}
			}
			return out, err
		}},
		{name: "open winner", run: open("a", plain)},
		{name: "open deleted", run: open("c", plain), wantErr: couch.ErrDeleted},
		{name: "open missing", run: open("zz", plain), wantErr: couch.ErrNotFound},
		{name: "open all leaves", run: open("b", func() couch.OpenOptions { return couch.OpenOptions{AllLeaves: true} })},
		{name: "open revs with a missing one", run: open("b", func() couch.OpenOptions {
			return couch.OpenOptions{OpenRevs: []couch.Rev{revs["b"], other}}
		})},
		{name: "open revs of missing doc", run: open("zz", func() couch.OpenOptions {
			return couch.OpenOptions{OpenRevs: []couch.Rev{other}}
		})},
		{name: "open unknown rev", run: open("a", func() couch.OpenOptions { return couch.OpenOptions{Rev: other} }), wantErr: couch.ErrNotFound},
		{name: "open deleted rev", run: open("c", func() couch.OpenOptions { return couch.OpenOptions{Rev: revs["c"]} })},
		{name: "open latest", run: open("e", func() couch.OpenOptions {
			return couch.OpenOptions{Rev: couch.Rev{Pos: 1, ID: revs["e"].ID}, Latest: true}
		})},
		{name: "open with attachments", run: open("e", plain)},
		{name: "open local doc", run: open("_local/l", plain)},
		{name: "open missing local doc", run: open("_local/zz", plain), wantErr: couch.ErrNotFound},
		{name: "local docs", run: func(ctx context.Context, c copyAPI) (any, error) {
			// Version stamps are each copy's clock: compare that one is
			// carried, not its value.
			docs, err := c.LocalDocs(ctx)
			for i := range docs {
				if docs[i].Version != 0 {
					docs[i].Version = 1
				}
			}
			return docs, err
		}},
		{name: "docs all with bodies", run: docs(shard.DocsQuery{Limit: -1, IncludeDocs: true})},
		{name: "docs descending limit", run: docs(shard.DocsQuery{Limit: 2, Descending: true})},
		{name: "docs range", run: docs(shard.DocsQuery{Limit: -1, StartKey: str("b"), EndKey: str("e")})},
		{name: "docs range inclusive", run: docs(shard.DocsQuery{Limit: -1, StartKey: str("b"), EndKey: str("e"), InclusiveEnd: true})},
		{name: "docs empty range", run: docs(shard.DocsQuery{Limit: -1, StartKey: str("x"), EndKey: str("y")})},
		{name: "lookup", run: func(ctx context.Context, c copyAPI) (any, error) {
			rows, found, err := c.Lookup(ctx, []string{"a", "zz", "c", "a", "e"}, true)
			return []any{rows, found}, err
		}},
		{name: "count before", run: func(ctx context.Context, c copyAPI) (any, error) { return c.CountBefore(ctx, "b", false) }},
		{name: "count before descending", run: func(ctx context.Context, c copyAPI) (any, error) { return c.CountBefore(ctx, "b", true) }},
		{name: "security default", run: security},
		{name: "set security", run: func(ctx context.Context, c copyAPI) (any, error) {
			return c.SetSecurity(ctx, []byte(`{"admins":{"names":["x"],"roles":[]}}`), 5)
		}},
		{name: "set older security", run: func(ctx context.Context, c copyAPI) (any, error) {
			return c.SetSecurity(ctx, []byte(`{"admins":{"names":["y"],"roles":[]}}`), 4)
		}},
		{name: "security set", run: security},
		{name: "revs limit default", run: func(ctx context.Context, c copyAPI) (any, error) { return c.RevsLimit(ctx) }},
		{name: "set revs limit invalid", run: func(ctx context.Context, c copyAPI) (any, error) { return nil, c.SetRevsLimit(ctx, 0) }},
		{name: "set revs limit", run: func(ctx context.Context, c copyAPI) (any, error) { return nil, c.SetRevsLimit(ctx, 7) }},
		{name: "revs limit set", run: func(ctx context.Context, c copyAPI) (any, error) { return c.RevsLimit(ctx) }},
		{name: "changes", run: changes(0, false)},
		{name: "changes since", run: changes(3, false)},
		{name: "changes descending", run: changes(0, true)},
		{name: "changes descending since", run: changes(4, true)},
		{name: "changes after the end", run: changes(1000, false)},
		{name: "count changes", run: func(ctx context.Context, c copyAPI) (any, error) { return c.CountChanges(ctx, 0) }},
		{name: "count changes since", run: func(ctx context.Context, c copyAPI) (any, error) { return c.CountChanges(ctx, 3) }},
		{name: "read winner", run: func(ctx context.Context, c copyAPI) (any, error) {
			var got []*couch.Revision
			err := c.Changes(ctx, 0, func(ch shard.Change) error {
				r, err := c.ReadWinner(ctx, ch)
				if err != nil {
					return err
				}
				got = append(got, r)
				return nil
			})
			return got, err
		}},
		{name: "read winner without leaves", run: func(ctx context.Context, c copyAPI) (any, error) {
			return c.ReadWinner(ctx, shard.Change{ID: "a"})
		}, wantErr: couch.ErrNotFound},
		{name: "attachment data", run: func(ctx context.Context, c copyAPI) (any, error) {
			d, err := c.Open(ctx, "e", couch.OpenOptions{})
			if err != nil {
				return nil, err
			}
			return c.AttachmentData(ctx, d.Revisions[0].Atts[0].Digest)
		}},
		{name: "attachment data missing", run: func(ctx context.Context, c copyAPI) (any, error) {
			return c.AttachmentData(ctx, "md5-AAAAAAAAAAAAAAAAAAAAAA==")
		}, wantErr: couch.ErrNotFound},
		{name: "revs diff", run: func(ctx context.Context, c copyAPI) (any, error) {
			return c.RevsDiff(ctx, map[string][]couch.Rev{
				"a":  {revs["a"], other},
				"b":  {revs["b"]},
				"zz": {{Pos: 1, ID: hex32a}},
			})
		}},
		{name: "purge", run: func(ctx context.Context, c copyAPI) (any, error) {
			return c.Purge(ctx, map[string][]couch.Rev{
				"b":  {{Pos: 2, ID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}},
				"a":  {other},
				"zz": {other},
			})
		}},
		{name: "open after purge", run: open("b", func() couch.OpenOptions { return couch.OpenOptions{AllLeaves: true} })},
		{name: "purge infos", run: func(ctx context.Context, c copyAPI) (any, error) { return c.PurgeInfos(ctx, 0, 100) }},
		{name: "purge infos after", run: func(ctx context.Context, c copyAPI) (any, error) { return c.PurgeInfos(ctx, 1, 100) }},
		{name: "info at the end", run: func(ctx context.Context, c copyAPI) (any, error) { return c.Info(ctx) }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			// Both runs start from the same revs; the local run's updates
			// are set aside and must match the remote run's.
			before := maps.Clone(revs)
			lres, lerr := s.run(ctx, local)
			after := revs
			revs = before
			rres, rerr := s.run(ctx, remote)
			if !maps.Equal(after, revs) {
				t.Errorf("revs differ: local %v, remote %v", after, revs)
			}
			sameError(t, lerr, rerr)
			if s.wantErr != nil && !errors.Is(rerr, s.wantErr) {
				t.Errorf("remote error %v, want %v", rerr, s.wantErr)
			}
			if l, r := canon(t, lres), canon(t, rres); l != r {
				t.Errorf("results differ\nlocal:  %s\nremote: %s", l, r)
			}
		})
	}
}

// sameError requires local and remote errors to be the same: both nil, or
// same text and the same *couch.Error.
func sameError(t testing.TB, local, remote error) {
	t.Helper()
	if (local == nil) != (remote == nil) {
		t.Fatalf("errors differ: local %v, remote %v", local, remote)
	}
	if local == nil {
		return
	}
	if local.Error() != remote.Error() {
		t.Errorf("error text differs:\nlocal:  %s\nremote: %s", local, remote)
	}
	var lce, rce *couch.Error
	if errors.As(local, &lce) != errors.As(remote, &rce) || (lce != nil && *lce != *rce) {
		t.Errorf("couch errors differ: local %#v, remote %#v", lce, rce)
	}
}

// canon renders a result as JSON for comparison, with rev trees in their
// binary form, per-document errors as text and the copy's random uuid left
// out.
func canon(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(canonValue(t, v))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func canonValue(t testing.TB, v any) any {
	tree := func(tr *couch.RevTree) []byte {
		if tr == nil {
			return nil
		}
		b, err := tr.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		var ce *couch.Error
		if errors.As(err, &ce) {
			return string(ce.Code) + "|" + ce.Reason + "|" + err.Error()
		}
		return err.Error()
	}
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = canonValue(t, x[i])
		}
		return out
	case shard.Info:
		x.UUID = ""
		return x
	case []couch.UpdateResult:
		out := make([]any, len(x))
		for i, r := range x {
			out[i] = []any{r.ID, r.Rev, errText(r.Err)}
		}
		return out
	case *couch.Document:
		if x == nil {
			return nil
		}
		return []any{x.ID, x.Seq, tree(x.Tree), x.Revisions}
	case []shard.Change:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = []any{c.Seq, c.ID, c.Deleted, c.Leaves, tree(c.Tree)}
		}
		return out
	}
	return v
}

// The coordinator's revision id crosses the wire: the remote copy stores
// the revision under it.
func TestNewRevIDOverRPC(t *testing.T) {
	ctx := t.Context()
	const name = "shards/00000000-ffffffff/db.1700000000"
	n2 := startNode(t, "n2@127.0.0.1")
	mustCreate(t, n2.store, name)
	remote, err := newClient(t, newResolver(n2)).Dial(ctx, n2.name, name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := remote.Update(ctx, []*couch.Doc{{ID: "a", Body: []byte(`{}`), NewRevID: hex32a}}, couch.UpdateOptions{NewEdits: true})
	if err != nil || res[0].Err != nil || res[0].Rev != (couch.Rev{Pos: 1, ID: hex32a}) {
		t.Fatalf("update = %+v, %v; want rev 1-%s", res, err, hex32a)
	}
}

// A write that fits one message carries its WriteID, so the copy keeps a
// receipt; one sent in parts carries none, since no part's receipt would
// match the other copies' receipt of the whole.
func TestUpdateWriteIDOnlyWhole(t *testing.T) {
	ctx := t.Context()
	const name = "shards/00000000-ffffffff/db.1700000000"
	n2 := startNode(t, "n2@127.0.0.1")
	sh := mustCreate(t, n2.store, name)
	remote, err := newClient(t, newResolver(n2)).Dial(ctx, n2.name, name)
	if err != nil {
		t.Fatal(err)
	}
	write := func(prefix string, docs, size int) {
		t.Helper()
		batch := make([]*couch.Doc, docs)
		for i := range batch {
			batch[i] = &couch.Doc{ID: fmt.Sprintf("%s%03d", prefix, i), Body: []byte(`{"p":"` + strings.Repeat("x", size) + `"}`)}
		}
		res, err := remote.Update(ctx, batch, couch.UpdateOptions{NewEdits: true, WriteID: couch.NewWriteID()})
		if err != nil || len(res) != docs {
			t.Fatalf("update of %d docs: %d results, %v", docs, len(res), err)
		}
	}
	write("small", 10, 100)
	if got := len(sh.Receipts(0)); got != 1 {
		t.Fatalf("receipts after a one-message write: %d, want 1", got)
	}
	write("big", 3, maxUpdateBytes/2)
	if got := len(sh.Receipts(0)); got != 1 {
		t.Fatalf("receipts after a write sent in parts: %d, want still 1", got)
	}
	if _, err := sh.Open(ctx, "big002", couch.OpenOptions{}); err != nil {
		t.Fatalf("last part of the split write: %v", err)
	}
}
