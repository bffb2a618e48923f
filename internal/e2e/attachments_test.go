package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/testnode"
)

func md5Digest(data []byte) string {
	sum := md5.Sum(data)
	return "md5-" + base64.StdEncoding.EncodeToString(sum[:])
}

func randBytes(seed uint64, n int) []byte {
	var s [32]byte
	s[0] = byte(seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// describeDiff says how got relates to want, for failure messages.
func describeDiff(got, want []byte) string {
	switch {
	case len(got) == 0:
		return "empty"
	case bytes.HasPrefix(want, got):
		return fmt.Sprintf("got is the first %d bytes", len(got))
	case bytes.HasSuffix(want, got):
		return fmt.Sprintf("got is the last %d bytes", len(got))
	case bytes.Contains(want, got):
		return fmt.Sprintf("got is bytes %d..%d", bytes.Index(want, got), bytes.Index(want, got)+len(got))
	}
	return "got is not a slice of the data"
}

func b64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }

// getAtt fetches an attachment's bytes, expecting 200.
func getAtt(t testing.TB, c *testnode.Client, path string, headers ...string) (http.Header, []byte) {
	t.Helper()
	return c.Expect(t, http.StatusOK, http.MethodGet, path, nil, headers...)
}

// checkStub checks an attachment stub of a GET without attachments=true.
// digest "" skips the digest comparison (text attachments are digested
// after compression).
func checkStub(t testing.TB, what string, stub any, ctype string, length, revpos int, digest string) {
	t.Helper()
	m, ok := stub.(map[string]any)
	if !ok {
		t.Errorf("%s: stub %#v is not an object", what, stub)
		return
	}
	if m["stub"] != true || m["data"] != nil {
		t.Errorf("%s: %v, want stub:true and no data", what, m)
	}
	if m["content_type"] != ctype {
		t.Errorf("%s: content_type %v, want %q", what, m["content_type"], ctype)
	}
	if fmt.Sprint(m["length"]) != strconv.Itoa(length) {
		t.Errorf("%s: length %v, want %d", what, m["length"], length)
	}
	if fmt.Sprint(m["revpos"]) != strconv.Itoa(revpos) {
		t.Errorf("%s: revpos %v, want %d", what, m["revpos"], revpos)
	}
	d, _ := m["digest"].(string)
	if !strings.HasPrefix(d, "md5-") {
		t.Errorf("%s: digest %q, want md5-...", what, d)
	} else if digest != "" && d != digest {
		t.Errorf("%s: digest %q, want %q", what, d, digest)
	}
}

// TestAttachmentsInline covers inline base64 attachments: byte-exact round
// trips (binary, empty, 10 MB), stubs, attachments=true and
// att_encoding_info.
func TestAttachmentsInline(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "att")

	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	text := []byte(strings.Repeat("Divan stores this text/plain attachment compressed. ", 60))
	rev := putDoc(t, c, "att", "d", map[string]any{
		"v": 1,
		"_attachments": map[string]any{
			"bin.dat":   map[string]any{"content_type": "application/octet-stream", "data": b64(bin)},
			"empty.bin": map[string]any{"content_type": "application/octet-stream", "data": ""},
			"note.txt":  map[string]any{"content_type": "text/plain", "data": b64(text)},
		},
	})

	t.Run("Stubs", func(t *testing.T) {
		doc := c.Get(t, "/att/d")
		atts := obj(t, doc, "_attachments")
		checkStub(t, "bin.dat", atts["bin.dat"], "application/octet-stream", len(bin), 1, md5Digest(bin))
		checkStub(t, "empty.bin", atts["empty.bin"], "application/octet-stream", 0, 1, md5Digest(nil))
		checkStub(t, "note.txt", atts["note.txt"], "text/plain", len(text), 1, "")
		for name, a := range atts {
			m := a.(map[string]any)
			if m["encoding"] != nil || m["encoded_length"] != nil {
				t.Errorf("%s without att_encoding_info: %v has encoding fields", name, m)
			}
		}
	})

	t.Run("EncodingInfo", func(t *testing.T) {
		atts := obj(t, c.Get(t, "/att/d?att_encoding_info=true"), "_attachments")
		note := atts["note.txt"].(map[string]any)
		if note["encoding"] != "gzip" {
			t.Errorf("att_encoding_info text/plain: encoding %v, want gzip; %v", note["encoding"], note)
		}
		el, err := strconv.Atoi(fmt.Sprint(note["encoded_length"]))
		if err != nil || el <= 0 || el >= len(text) {
			t.Errorf("att_encoding_info text/plain: encoded_length %v, want 0 < n < %d", note["encoded_length"], len(text))
		}
		if b := atts["bin.dat"].(map[string]any); b["encoding"] != nil {
			t.Errorf("att_encoding_info octet-stream: %v, want no encoding", b)
		}
		// The stored gzip is served to a client that accepts it...
		hdr, body := getAtt(t, c, "/att/d/note.txt", "Accept-Encoding", "gzip")
		if hdr.Get("Content-Encoding") != "gzip" {
			t.Errorf("GET note.txt with Accept-Encoding gzip: Content-Encoding %q, want gzip", hdr.Get("Content-Encoding"))
		} else {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("gzip body: %v", err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(plain, text) {
				t.Errorf("gunzipped note.txt differs (%v)", err)
			}
			if len(body) != el {
				t.Errorf("gzip body %d bytes, want encoded_length %d", len(body), el)
			}
		}
		// ...and decoded for one that does not.
		hdr, body = getAtt(t, c, "/att/d/note.txt", "Accept-Encoding", "identity")
		if hdr.Get("Content-Encoding") != "" || !bytes.Equal(body, text) {
			t.Errorf("GET note.txt with Accept-Encoding identity: Content-Encoding %q, %d bytes; want the plain %d bytes", hdr.Get("Content-Encoding"), len(body), len(text))
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		hdr, body := getAtt(t, c, "/att/d/bin.dat")
		if !bytes.Equal(body, bin) {
			t.Errorf("GET bin.dat: %d bytes, differs from the 256 bytes written", len(body))
		}
		if ct := hdr.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("GET bin.dat: Content-Type %q", ct)
		}
		_, body = getAtt(t, c, "/att/d/empty.bin")
		if len(body) != 0 {
			t.Errorf("GET empty.bin: %q, want no bytes", body)
		}
		doc := c.Get(t, "/att/d?attachments=true", "Accept", "application/json")
		if doc["_rev"] != rev {
			t.Errorf("attachments=true: _rev %v", doc["_rev"])
		}
		atts := obj(t, doc, "_attachments")
		for name, want := range map[string][]byte{"bin.dat": bin, "empty.bin": {}, "note.txt": text} {
			m := atts[name].(map[string]any)
			if m["stub"] != nil {
				t.Errorf("attachments=true: %s is a stub: %v", name, m)
			}
			got, err := base64.StdEncoding.DecodeString(fmt.Sprint(m["data"]))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("attachments=true: %s data does not round-trip (%v)", name, err)
			}
			if fmt.Sprint(m["revpos"]) != "1" || m["digest"] == nil {
				t.Errorf("attachments=true: %s lacks revpos/digest: %v", name, m)
			}
		}
	})

	t.Run("Big", func(t *testing.T) {
		big := randBytes(7, 10<<20)
		r := putDoc(t, c, "att", "big", map[string]any{"_attachments": map[string]any{
			"big.bin": map[string]any{"content_type": "application/octet-stream", "data": b64(big)},
		}})
		checkStub(t, "big.bin", obj(t, c.Get(t, "/att/big"), "_attachments")["big.bin"], "application/octet-stream", len(big), 1, md5Digest(big))
		hdr, body := getAtt(t, c, "/att/big/big.bin")
		if !bytes.Equal(body, big) {
			t.Errorf("GET big.bin: %d bytes, differs from the %d written (%s)", len(body), len(big), describeDiff(body, big))
		}
		if cl := hdr.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(big)) {
			t.Errorf("GET big.bin: Content-Length %s", cl)
		}
		// Updating the doc with the stub keeps the attachment.
		r2 := putDoc(t, c, "att", "big", map[string]any{"_rev": r, "v": 2, "_attachments": map[string]any{
			"big.bin": map[string]any{"stub": true},
		}})
		if _, body := getAtt(t, c, "/att/big/big.bin?rev="+r2); !bytes.Equal(body, big) {
			t.Errorf("big.bin after a stub update differs")
		}
		checkStub(t, "big.bin after stub update", obj(t, c.Get(t, "/att/big"), "_attachments")["big.bin"], "application/octet-stream", len(big), 1, md5Digest(big))
	})
}

// TestAttachmentsStandalone covers /{db}/{id}/{att}: PUT, GET, HEAD,
// DELETE, revisions, names with '/', ranges and ETags.
func TestAttachmentsStandalone(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "sa")
	data := randBytes(1, 1000)

	// PUT on a missing doc creates it.
	_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/sa/doc/a.bin", data, "Content-Type", "application/octet-stream")
	r1 := okRev(t, "PUT /sa/doc/a.bin", body, "doc")
	if revPos(t, r1) != 1 {
		t.Errorf("PUT attachment on a new doc: rev %s, want 1-...", r1)
	}
	// Without the rev an existing doc conflicts.
	expectError(t, c, http.StatusConflict, "conflict", "Document update conflict.", http.MethodPut, "/sa/doc/b.bin", []byte("x"), "Content-Type", "application/octet-stream")
	_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/sa/doc/b.txt?rev="+r1, "hello text", "Content-Type", "text/plain")
	r2 := okRev(t, "PUT /sa/doc/b.txt?rev=", body, "doc")
	// If-Match works like ?rev=.
	_, body = c.Expect(t, http.StatusCreated, http.MethodPut, "/sa/doc/dir%2Fsub%20name.bin", data[:10], "Content-Type", "application/octet-stream", "If-Match", `"`+r2+`"`)
	r3 := okRev(t, "PUT /sa/doc/dir%2Fsub%20name.bin", body, "doc")

	doc := c.Get(t, "/sa/doc")
	atts := obj(t, doc, "_attachments")
	checkStub(t, "a.bin", atts["a.bin"], "application/octet-stream", len(data), 1, md5Digest(data))
	checkStub(t, "b.txt", atts["b.txt"], "text/plain", len("hello text"), 2, "")
	checkStub(t, "dir/sub name.bin", atts["dir/sub name.bin"], "application/octet-stream", 10, 3, md5Digest(data[:10]))

	t.Run("GetHead", func(t *testing.T) {
		hdr, body := getAtt(t, c, "/sa/doc/a.bin")
		if !bytes.Equal(body, data) {
			t.Errorf("GET a.bin differs")
		}
		etag := hdr.Get("ETag")
		sum := md5.Sum(data)
		if etag != `"`+b64(sum[:])+`"` {
			t.Errorf("GET a.bin: ETag %q, want the quoted base64 md5 %q", etag, `"`+b64(sum[:])+`"`)
		}
		if hdr.Get("Accept-Ranges") != "bytes" {
			t.Errorf("GET a.bin: Accept-Ranges %q, want bytes", hdr.Get("Accept-Ranges"))
		}
		status, _, body := c.Do(t, http.MethodGet, "/sa/doc/a.bin", nil, "If-None-Match", etag)
		if status != http.StatusNotModified || len(body) != 0 {
			t.Errorf("GET a.bin If-None-Match: %d %q, want 304", status, body)
		}
		status, hdr, body = c.Do(t, http.MethodHead, "/sa/doc/a.bin", nil)
		if status != http.StatusOK || len(body) != 0 || hdr.Get("Content-Length") != strconv.Itoa(len(data)) || hdr.Get("ETag") != etag {
			t.Errorf("HEAD a.bin: %d, %d bytes, Content-Length %q, ETag %q; want 200, no body, %d, %s", status, len(body), hdr.Get("Content-Length"), hdr.Get("ETag"), len(data), etag)
		}
		// Older revisions by ?rev=.
		if _, body := getAtt(t, c, "/sa/doc/a.bin?rev="+r1); !bytes.Equal(body, data) {
			t.Errorf("GET a.bin?rev=%s differs", r1)
		}
		hdr, body = getAtt(t, c, "/sa/doc/b.txt")
		if string(body) != "hello text" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
			t.Errorf("GET b.txt: %q (%s)", body, hdr.Get("Content-Type"))
		}
		expectError(t, c, http.StatusNotFound, "not_found", "Document is missing attachment", http.MethodGet, "/sa/doc/nope.bin", nil)
		expectError(t, c, http.StatusNotFound, "not_found", "", http.MethodGet, "/sa/nodoc/a.bin", nil)
		status, _, _ = c.Do(t, http.MethodHead, "/sa/doc/nope.bin", nil)
		if status != http.StatusNotFound {
			t.Errorf("HEAD missing attachment: %d, want 404", status)
		}
	})

	t.Run("SlashName", func(t *testing.T) {
		for _, p := range []string{"/sa/doc/dir%2Fsub%20name.bin", "/sa/doc/dir/sub%20name.bin"} {
			if _, body := getAtt(t, c, p); !bytes.Equal(body, data[:10]) {
				t.Errorf("GET %s: %q, want %q", p, body, data[:10])
			}
		}
	})

	t.Run("Range", func(t *testing.T) {
		status, hdr, body := c.Do(t, http.MethodGet, "/sa/doc/a.bin", nil, "Range", "bytes=10-19")
		if status != http.StatusPartialContent || !bytes.Equal(body, data[10:20]) {
			t.Errorf("Range bytes=10-19: %d, %d bytes; want 206 with bytes 10..19", status, len(body))
		}
		if cr := hdr.Get("Content-Range"); cr != "bytes 10-19/1000" {
			t.Errorf("Range bytes=10-19: Content-Range %q, want bytes 10-19/1000", cr)
		}
		status, hdr, body = c.Do(t, http.MethodGet, "/sa/doc/a.bin", nil, "Range", "bytes=-5")
		if status != http.StatusPartialContent || !bytes.Equal(body, data[995:]) || hdr.Get("Content-Range") != "bytes 995-999/1000" {
			t.Errorf("Range bytes=-5: %d %q %q", status, body, hdr.Get("Content-Range"))
		}
		status, _, body = c.Do(t, http.MethodGet, "/sa/doc/a.bin", nil, "Range", "bytes=990-2000")
		if status != http.StatusPartialContent || !bytes.Equal(body, data[990:]) {
			t.Errorf("Range bytes=990-2000: %d, %d bytes; want 206 with the last 10", status, len(body))
		}
		status, _, body = c.Do(t, http.MethodGet, "/sa/doc/a.bin", nil, "Range", "bytes=5000-6000")
		if status != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("Range bytes=5000-6000 of 1000 bytes: %d %s, want 416", status, body)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		expectError(t, c, http.StatusConflict, "conflict", "", http.MethodDelete, "/sa/doc/a.bin", nil)
		expectError(t, c, http.StatusConflict, "conflict", "", http.MethodDelete, "/sa/doc/a.bin?rev="+r1, nil)
		_, body := c.Expect(t, http.StatusOK, http.MethodDelete, "/sa/doc/a.bin?rev="+r3, nil)
		r4 := okRev(t, "DELETE a.bin", body, "doc")
		if revPos(t, r4) != 4 {
			t.Errorf("DELETE attachment: rev %s, want 4-...", r4)
		}
		expectError(t, c, http.StatusNotFound, "not_found", "Document is missing attachment", http.MethodGet, "/sa/doc/a.bin", nil)
		if _, ok := obj(t, c.Get(t, "/sa/doc"), "_attachments")["a.bin"]; ok {
			t.Errorf("a.bin still listed after DELETE")
		}
		// Still readable at the old revision.
		if _, body := getAtt(t, c, "/sa/doc/a.bin?rev="+r3); !bytes.Equal(body, data) {
			t.Errorf("GET a.bin?rev=%s after deletion differs", r3)
		}
		expectError(t, c, http.StatusNotFound, "not_found", "", http.MethodDelete, "/sa/doc/nope.bin?rev="+r4, nil)
	})
}

// jsonKeys returns the keys of a JSON object in document order.
func jsonKeys(t testing.TB, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %.200s", data)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("bad JSON: %v", err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("bad JSON: %v", err)
		}
	}
	return keys
}

// TestAttachmentsMultipart covers atts_since, GET as multipart/related and
// PUT of a multipart/related document.
func TestAttachmentsMultipart(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	createDB(t, c, "mp")
	one, two := randBytes(2, 5000), randBytes(3, 3000)
	r1 := putDoc(t, c, "mp", "d", map[string]any{"v": 1, "_attachments": map[string]any{
		"one.bin": map[string]any{"content_type": "application/octet-stream", "data": b64(one)},
	}})
	_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/mp/d/two.bin?rev="+r1, two, "Content-Type", "image/png")
	r2 := okRev(t, "PUT two.bin", body, "d")

	t.Run("AttsSince", func(t *testing.T) {
		atts := obj(t, c.Get(t, "/mp/d?attachments=true&atts_since="+jsonQuery([]string{r1}), "Accept", "application/json"), "_attachments")
		if m := atts["one.bin"].(map[string]any); m["stub"] != true || m["data"] != nil {
			t.Errorf("atts_since=[%s]: one.bin (revpos 1) = %v, want a stub", r1, m)
		}
		m := atts["two.bin"].(map[string]any)
		if got, _ := base64.StdEncoding.DecodeString(fmt.Sprint(m["data"])); !bytes.Equal(got, two) || m["stub"] != nil {
			t.Errorf("atts_since=[%s]: two.bin (revpos 2) not inline: %.200v", r1, m)
		}
		// A rev the server does not know sends everything.
		atts = obj(t, c.Get(t, "/mp/d?attachments=true&atts_since="+jsonQuery([]string{"9-" + strings.Repeat("a", 32)}), "Accept", "application/json"), "_attachments")
		for name, a := range atts {
			if a.(map[string]any)["data"] == nil {
				t.Errorf("atts_since=[unknown rev]: %s is not inline", name)
			}
		}
	})

	t.Run("GetMultipartRelated", func(t *testing.T) {
		hdr, body := c.Expect(t, http.StatusOK, http.MethodGet, "/mp/d?attachments=true", nil, "Accept", "multipart/related")
		mt, params, err := mime.ParseMediaType(hdr.Get("Content-Type"))
		if err != nil || mt != "multipart/related" || params["boundary"] == "" {
			t.Fatalf("GET Accept multipart/related: Content-Type %q", hdr.Get("Content-Type"))
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("multipart/related: %v", err)
		}
		if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("first part Content-Type %q, want application/json", ct)
		}
		jsonPart, _ := io.ReadAll(p)
		doc := testnode.Object(t, jsonPart)
		if doc["_rev"] != r2 {
			t.Errorf("multipart doc _rev %v, want %s", doc["_rev"], r2)
		}
		attsRaw, _ := json.Marshal(doc["_attachments"])
		var top, rawAtts map[string]json.RawMessage
		if err := json.Unmarshal(jsonPart, &top); err != nil {
			t.Fatalf("JSON part: %v", err)
		}
		if err := json.Unmarshal(top["_attachments"], &rawAtts); err != nil {
			t.Fatalf("JSON part _attachments: %v; %s", err, jsonPart)
		}
		// Attachment parts follow in the order of the _attachments keys.
		order := jsonKeys(t, top["_attachments"])
		want := map[string][]byte{"one.bin": one, "two.bin": two}
		for _, name := range order {
			m := testnode.Object(t, rawAtts[name])
			if m["follows"] != true || m["data"] != nil || m["stub"] != nil {
				t.Errorf("multipart JSON %s: %v, want follows:true", name, m)
			}
			if fmt.Sprint(m["length"]) != strconv.Itoa(len(want[name])) {
				t.Errorf("multipart JSON %s: length %v", name, m["length"])
			}
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("multipart: part for %s: %v (atts %s)", name, err, attsRaw)
			}
			if cd := p.Header.Get("Content-Disposition"); cd != "" {
				if _, dp, _ := mime.ParseMediaType(cd); dp["filename"] != name {
					t.Errorf("part for %s: Content-Disposition %q", name, cd)
				}
			}
			got, _ := io.ReadAll(p)
			if !bytes.Equal(got, want[name]) {
				t.Errorf("multipart part for %s: %d bytes, differs from the %d stored", name, len(got), len(want[name]))
			}
		}
		if len(order) != 2 {
			t.Errorf("multipart JSON lists attachments %q, want 2", order)
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("multipart: extra part after the attachments (%v)", err)
		}
	})

	t.Run("PutMultipartRelated", func(t *testing.T) {
		payload := randBytes(4, 70000)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		jw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
		json.NewEncoder(jw).Encode(map[string]any{"_id": "up", "kind": "mp", "_attachments": map[string]any{
			"p.bin": map[string]any{"follows": true, "content_type": "application/octet-stream", "length": len(payload)},
			"t.txt": map[string]any{"follows": true, "content_type": "text/plain", "length": 5},
		}})
		pw, _ := mw.CreatePart(textproto.MIMEHeader{})
		pw.Write(payload)
		pw, _ = mw.CreatePart(textproto.MIMEHeader{})
		pw.Write([]byte("hello"))
		mw.Close()
		_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/mp/up", buf.Bytes(), "Content-Type", "multipart/related; boundary=\""+mw.Boundary()+"\"")
		r := okRev(t, "PUT multipart/related", body, "up")
		doc := c.Get(t, "/mp/up")
		if doc["kind"] != "mp" || doc["_rev"] != r {
			t.Errorf("GET /mp/up: %v", doc)
		}
		atts := obj(t, doc, "_attachments")
		checkStub(t, "p.bin", atts["p.bin"], "application/octet-stream", len(payload), 1, md5Digest(payload))
		checkStub(t, "t.txt", atts["t.txt"], "text/plain", 5, 1, "")
		if _, got := getAtt(t, c, "/mp/up/p.bin"); !bytes.Equal(got, payload) {
			t.Errorf("p.bin from a multipart PUT differs")
		}
		if _, got := getAtt(t, c, "/mp/up/t.txt"); string(got) != "hello" {
			t.Errorf("t.txt from a multipart PUT: %q", got)
		}
	})
}

// TestAttachmentsReplicated checks that attachments survive the replicator's
// write paths: _bulk_docs and PUT with new_edits=false, inline and as stubs
// of an attachment the target already has.
func TestAttachmentsReplicated(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := n.Client()
	for _, db := range []string{"src", "bulk", "put"} {
		createDB(t, c, db)
	}
	bin := randBytes(5, 40000)
	text := []byte(strings.Repeat("replicated text ", 100))
	r1 := putDoc(t, c, "src", "d", map[string]any{"v": 1, "_attachments": map[string]any{
		"a.bin": map[string]any{"content_type": "application/octet-stream", "data": b64(bin)},
		"t.txt": map[string]any{"content_type": "text/plain", "data": b64(text)},
	}})
	extra := randBytes(6, 123)
	_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/src/d/extra.bin?rev="+r1, extra, "Content-Type", "application/octet-stream")
	r2 := okRev(t, "PUT extra.bin", body, "d")

	// Revision 1 with everything inline, as a replicator fetches it.
	full1 := c.Get(t, "/src/d?rev="+r1+"&revs=true&attachments=true", "Accept", "application/json")
	srcStubs := obj(t, c.Get(t, "/src/d"), "_attachments")

	check := func(t *testing.T, db, rev string, names ...string) {
		t.Helper()
		doc := c.Get(t, "/"+db+"/d?rev="+rev)
		atts := obj(t, doc, "_attachments")
		for _, name := range names {
			jsonEq(t, db+" stub "+name, atts[name], mustJSON(t, srcStubs[name]))
		}
		want := map[string][]byte{"a.bin": bin, "t.txt": text, "extra.bin": extra}
		for _, name := range names {
			if _, got := getAtt(t, c, "/"+db+"/d/"+name+"?rev="+rev); !bytes.Equal(got, want[name]) {
				t.Errorf("%s: %s@%s differs after replication", db, name, rev)
			}
		}
	}

	t.Run("BulkDocs", func(t *testing.T) {
		bulkNoNewEdits(t, c, "bulk", full1)
		doc := c.Get(t, "/bulk/d")
		if doc["_rev"] != r1 {
			t.Fatalf("bulk target rev %v, want %s", doc["_rev"], r1)
		}
		for _, name := range []string{"a.bin", "t.txt"} {
			m := obj(t, doc, "_attachments")[name].(map[string]any)
			s := srcStubs[name].(map[string]any)
			if m["digest"] != s["digest"] || fmt.Sprint(m["length"]) != fmt.Sprint(s["length"]) || fmt.Sprint(m["revpos"]) != "1" {
				t.Errorf("bulk target %s@1: %v, want as source %v", name, m, s)
			}
		}
		// Revision 2 with atts_since=[r1]: old attachments as stubs, the
		// new one inline.
		full2 := c.Get(t, "/src/d?rev="+r2+"&revs=true&attachments=true&atts_since="+jsonQuery([]string{r1}), "Accept", "application/json")
		if a := obj(t, full2, "_attachments")["a.bin"].(map[string]any); a["stub"] != true {
			t.Fatalf("atts_since: a.bin not a stub: %.200v", a)
		}
		bulkNoNewEdits(t, c, "bulk", full2)
		check(t, "bulk", r2, "a.bin", "t.txt", "extra.bin")
	})

	t.Run("PutNewEditsFalse", func(t *testing.T) {
		_, body := c.Expect(t, http.StatusCreated, http.MethodPut, "/put/d?new_edits=false", full1)
		if m := testnode.Object(t, body); m["rev"] != r1 {
			t.Errorf("PUT ?new_edits=false: %s, want rev %s", body, r1)
		}
		check(t, "put", r1, "a.bin", "t.txt")
		full2 := c.Get(t, "/src/d?rev="+r2+"&revs=true&attachments=true", "Accept", "application/json")
		c.Expect(t, http.StatusCreated, http.MethodPut, "/put/d?new_edits=false", full2)
		check(t, "put", r2, "a.bin", "t.txt", "extra.bin")
		doc := c.Get(t, "/put/d?revs=true")
		jsonEq(t, "put target _revisions", doc["_revisions"], `{"start":2,"ids":["`+r2[2:]+`","`+r1[2:]+`"]}`)
	})
}
