package httpapi

import (
	"net/http"

	"github.com/divandb/divan/internal/couch"
	"github.com/divandb/divan/internal/rawjson"
)

// purge serves POST /{db}/_purge: body {"docid": ["rev", ...], ...}.
func (a *API) purge(rq *request, db string) error {
	body, err := rq.postJSONObject()
	if err != nil {
		return err
	}
	type entry struct {
		id   string
		revs []couch.Rev
	}
	var entries []entry
	nrevs := 0
	err = rawjson.Members(body, func(m rawjson.Member) error {
		revs, err := parseRevList(m.Value)
		if err != nil {
			return err
		}
		entries = append(entries, entry{id: m.Key, revs: revs})
		nrevs += len(revs)
		return nil
	})
	if err != nil {
		return err
	}
	if len(entries) > a.conf().PurgeMaxDocIDs {
		return badRequest("Exceeded maximum number of documents.")
	}
	if nrevs > a.conf().PurgeMaxRevs {
		return badRequest("Exceeded maximum number of revisions.")
	}
	req := make(map[string][]couch.Rev, len(entries))
	for _, e := range entries {
		req[e.id] = append(req[e.id], e.revs...)
	}
	res, err := a.b.Purge(rq.ctx, db, req)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Accepted {
		status = http.StatusAccepted
	}
	b := append(rq.buf[:0], `{"purge_seq":null,"purged":{`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = rawjson.AppendString(b, e.id)
		b = append(b, ':')
		b = appendRevList(b, res.Purged[e.id])
	}
	rq.sendJSON(status, append(b, "}}"...))
	return nil
}

// appendRevList appends a JSON array of rev strings.
func appendRevList(b []byte, revs []couch.Rev) []byte {
	b = append(b, '[')
	for i, r := range revs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuotedRev(b, r)
	}
	return append(b, ']')
}
