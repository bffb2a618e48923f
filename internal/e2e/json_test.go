package e2e

import (
	"bytes"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/testnode"
)

// TestExactJSON checks that document bodies come back byte for byte: key
// order, unicode escapes and number spelling as the client sent them, with
// _id and _rev in front.
func TestExactJSON(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "exact")

	for _, tc := range []struct {
		id, in, want string // want is the body after `{"_id":…,"_rev":…,`
	}{
		{"brief", `{"z":1,"a":{"y":1.0e10,"b":"\u00e9\ud83d\ude00"},"m":[1.50,-0]}`, `"z":1,"a":{"y":1.0e10,"b":"\u00e9\ud83d\ude00"},"m":[1.50,-0]}`},
		{"numbers", `{"big":123456789012345678901234567890,"small":-1.5E-7,"f":0.1,"e":2E+5,"i":-0.0}`, `"big":123456789012345678901234567890,"small":-1.5E-7,"f":0.1,"e":2E+5,"i":-0.0}`},
		{"escapes", `{"s":"tab\there \"q\" \\ \/ \u0000 \u001F \uD83D\uDE00","raw":"é😀"}`, `"s":"tab\there \"q\" \\ \/ \u0000 \u001F \uD83D\uDE00","raw":"é😀"}`},
		{"literals", `{"e":{},"l":[],"n":null,"t":true,"f":false,"deep":[[[{"k":[{}]}]]]}`, `"e":{},"l":[],"n":null,"t":true,"f":false,"deep":[[[{"k":[{}]}]]]}`},
		{"order", `{"zeta":1,"_id":"order","alpha":2,"mid":{"z":1,"a":2}}`, `"zeta":1,"alpha":2,"mid":{"z":1,"a":2}}`},
		{"empty", `{}`, ``},
	} {
		t.Run(tc.id, func(t *testing.T) {
			_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/exact/"+tc.id, tc.in)
			rev := okRev(t, "PUT /exact/"+tc.id, body, tc.id)
			want := `{"_id":"` + tc.id + `","_rev":"` + rev + `"`
			if tc.want == "" {
				want += "}"
			} else {
				want += "," + tc.want
			}

			_, hdr, got := c.Do(t, http.MethodGet, "/exact/"+tc.id, nil)
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("GET /exact/%s: Content-Type %q, want application/json", tc.id, ct)
			}
			if g := bytes.TrimSuffix(got, []byte("\n")); string(g) != want {
				t.Errorf("GET /exact/%s:\n got: %s\nwant: %s", tc.id, g, want)
			}

			// With ?revs=true the body is unchanged and _revisions follows it.
			_, got = c.Expect(t, http.StatusOK, http.MethodGet, "/exact/"+tc.id+"?revs=true", nil)
			prefix := strings.TrimSuffix(want, "}")
			if !bytes.HasPrefix(got, []byte(prefix)) || !bytes.Contains(got, []byte(`"_revisions":`)) {
				t.Errorf("GET /exact/%s?revs=true:\n got: %s\nwant: %s,\"_revisions\":...}", tc.id, bytes.TrimSpace(got), prefix)
			}

			// include_docs and open_revs serve the same bytes.
			_, got = c.Expect(t, http.StatusOK, http.MethodGet, "/exact/_all_docs?include_docs=true&key="+jsonQuery(tc.id), nil)
			if !bytes.Contains(got, []byte(want)) {
				t.Errorf("GET /exact/_all_docs?include_docs=true&key=%q:\n got: %s\nwant a row with \"doc\":%s", tc.id, bytes.TrimSpace(got), want)
			}
			_, got = c.Expect(t, http.StatusOK, http.MethodGet, "/exact/"+tc.id+"?open_revs=all", nil, "Accept", "application/json")
			if !bytes.Contains(got, []byte(want)) {
				t.Errorf("GET /exact/%s?open_revs=all:\n got: %s\nwant [{\"ok\":%s}]", tc.id, bytes.TrimSpace(got), want)
			}

			// An update through _bulk_docs keeps the new body's bytes too.
			upd := `{"docs":[{"_id":"` + tc.id + `","_rev":"` + rev + `","n2":2.50,"u":"\u00fc"}]}`
			var res []map[string]any
			c.ExpectJSON(t, http.StatusCreated, http.MethodPost, "/exact/_bulk_docs", upd, &res)
			if len(res) != 1 || res[0]["ok"] != true {
				t.Fatalf("POST /exact/_bulk_docs: %v", res)
			}
			want2 := `{"_id":"` + tc.id + `","_rev":"` + res[0]["rev"].(string) + `","n2":2.50,"u":"\u00fc"}`
			_, got = c.Expect(t, http.StatusOK, http.MethodGet, "/exact/"+tc.id, nil)
			if g := bytes.TrimSuffix(got, []byte("\n")); string(g) != want2 {
				t.Errorf("GET /exact/%s after _bulk_docs update:\n got: %s\nwant: %s", tc.id, g, want2)
			}
		})
	}
}

// TestDocIDEncoding checks ids with reserved and non-ASCII characters: they
// work when percent-encoded and come back decoded.
func TestDocIDEncoding(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "ids")

	ids := []string{"with/slash", "with space", "per%cent", "plus+sign", "ünïcødé", "mixed/ %+é", "emoji😀", "q?uery#hash", "amp&eq=x", "a/b/c", "semi;colon"}
	revs := map[string]string{}
	for _, id := range ids {
		path := "/ids/" + escapeAll(id)
		_, body := c.Expect(t, http.StatusCreated, http.MethodPut, path, map[string]any{"id": id})
		revs[id] = okRev(t, "PUT "+path, body, id)
		doc := c.Get(t, path)
		if doc["_id"] != id || doc["_rev"] != revs[id] || doc["id"] != id {
			t.Errorf("GET %s = %v, want _id %q rev %s", path, doc, id, revs[id])
		}
	}
	// Ids created by POST are reachable the same way.
	_, body := c.Expect(t, http.StatusCreated, http.MethodPost, "/ids", map[string]any{"_id": "posted/ü +%"})
	revs["posted/ü +%"] = okRev(t, "POST /ids", body, "posted/ü +%")
	if doc := c.Get(t, "/ids/"+escapeAll("posted/ü +%")); doc["_id"] != "posted/ü +%" {
		t.Errorf("GET posted id: %v", doc)
	}

	want := make([]string, 0, len(revs))
	for id := range revs {
		want = append(want, id)
	}
	sort.Strings(want)
	m := c.Get(t, "/ids/_all_docs")
	if got := rowIDs(rows(t, m)); !equalStrings(got, want) {
		t.Errorf("_all_docs ids %q, want %q", got, want)
	}
	// Keys lookups take decoded ids.
	keys := []string{"with/slash", "mixed/ %+é"}
	m = testnode.Object(t, func() []byte {
		_, b := c.Expect(t, http.StatusOK, http.MethodPost, "/ids/_all_docs", map[string]any{"keys": keys})
		return b
	}())
	if got := rowIDs(rows(t, m)); !slices.Equal(got, keys) {
		t.Errorf("_all_docs keys %q: ids %q", keys, got)
	}

	// Delete through the encoded path.
	path := "/ids/" + escapeAll("with space")
	c.Expect(t, http.StatusOK, http.MethodDelete, path+"?rev="+revs["with space"], nil)
	expectError(t, c, http.StatusNotFound, "not_found", "deleted", http.MethodGet, path, nil)
}
