package shard

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/divandb/divan/internal/couch"
)

func TestAttachments(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	policy := couch.DefaultAttachmentPolicy()
	parse := func(raw string) []couch.Attachment {
		t.Helper()
		atts, err := couch.ParseAttachments([]byte(raw), policy)
		if err != nil {
			t.Fatal(err)
		}
		return atts
	}
	// "aGVsbG8=" is "hello"; text/plain is stored gzipped.
	r1 := put(t, sh, &couch.Doc{ID: "a", Body: []byte(`{}`), Atts: parse(`{
		"hello.txt": {"content_type": "text/plain", "data": "aGVsbG8="},
		"bin": {"content_type": "application/octet-stream", "data": "AAEC"}}`)}, true)
	if r1.Err != nil {
		t.Fatal(r1.Err)
	}
	doc, err := sh.Open(ctx, "a", couch.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	atts := doc.Revisions[0].Atts
	if len(atts) != 2 || atts[0].Name != "bin" || atts[1].Encoding != "gzip" || atts[1].Length != 5 || atts[0].RevPos != 1 {
		t.Fatalf("atts = %+v", atts)
	}
	stored, err := sh.AttachmentData(ctx, atts[1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := atts[1].Identity(stored); string(id) != "hello" {
		t.Fatalf("identity = %q", id)
	}
	bin, _ := sh.AttachmentData(ctx, atts[0].Digest)
	if !bytes.Equal(bin, []byte{0, 1, 2}) {
		t.Fatalf("bin = %v", bin)
	}

	// A stub keeps the attachment and its revpos; an unlisted one is dropped.
	r2 := put(t, sh, &couch.Doc{ID: "a", Rev: r1.Rev, Body: []byte(`{"v":2}`), Atts: parse(`{"hello.txt": {"stub": true}}`)}, true)
	if r2.Err != nil {
		t.Fatal(r2.Err)
	}
	doc, _ = sh.Open(ctx, "a", couch.OpenOptions{})
	if atts := doc.Revisions[0].Atts; len(atts) != 1 || atts[0].Name != "hello.txt" || atts[0].RevPos != 1 {
		t.Fatalf("after stub: %+v", atts)
	}
	// A stub naming an attachment the parent lacks is missing_stub.
	r3 := put(t, sh, &couch.Doc{ID: "a", Rev: r2.Rev, Body: []byte(`{}`), Atts: parse(`{"nope": {"stub": true}}`)}, true)
	var ce *couch.Error
	if !errors.As(r3.Err, &ce) || ce.Code != couch.CodeMissingStub {
		t.Fatalf("bad stub: %+v", r3)
	}
	// Attachments change the revision id.
	other := put(t, sh, &couch.Doc{ID: "b", Body: []byte(`{}`)}, true)
	withAtt := put(t, mustCreate(t, sh.store, "s2"), &couch.Doc{ID: "b", Body: []byte(`{}`), Atts: parse(`{"x": {"data": "AA=="}}`)}, true)
	if other.Rev == withAtt.Rev {
		t.Fatal("attachment did not change the rev id")
	}
	// Replicated write with a stub against a revision we hold.
	r4 := put(t, sh, &couch.Doc{ID: "a", Revisions: &couch.RevPath{Start: 3, IDs: []string{"ffff", r2.Rev.ID}}, Body: []byte(`{}`),
		Atts: parse(`{"hello.txt": {"stub": true, "revpos": 1}}`)}, false)
	if r4.Err != nil {
		t.Fatal(r4.Err)
	}
	doc, _ = sh.Open(ctx, "a", couch.OpenOptions{})
	if doc.Revisions[0].Rev.String() != "3-ffff" || len(doc.Revisions[0].Atts) != 1 {
		t.Fatalf("replicated stub: %+v", doc.Revisions[0])
	}
}

func TestLargeAttachmentSpansChunks(t *testing.T) {
	ctx := context.Background()
	sh := mustCreate(t, openTestStore(t), "s")
	data := make([]byte, 3*blobChunk+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	att := couch.Attachment{Name: "big", ContentType: "application/octet-stream"}
	if err := att.SetData(data, couch.DefaultAttachmentPolicy()); err != nil {
		t.Fatal(err)
	}
	if r := put(t, sh, &couch.Doc{ID: "big", Body: []byte(`{}`), Atts: []couch.Attachment{att}}, true); r.Err != nil {
		t.Fatal(r.Err)
	}
	got, err := sh.AttachmentData(ctx, att.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes back, want the %d written", len(got), len(data))
	}
}
