package rpc

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"unsafe"
	"weak"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	pb "github.com/divandb/divan/proto/internalv1"
)

// TestCodecWireCompatible checks that the codec writes and reads the
// standard encoding: a peer using protobuf-go's own codec must understand
// it, both ways, for small messages and for pooled (large) ones.
func TestCodecWireCompatible(t *testing.T) {
	c := newCodec()
	for _, n := range []int{1, 2000} {
		req := &pb.UpdateRequest{
			Header:   &pb.RequestHeader{RequestId: "r1", Shard: "shards/00000000-7fffffff/db.1"},
			NewEdits: true, WriteId: []byte("0123456789abcdef"),
		}
		for i := range n {
			req.Docs = append(req.Docs, &pb.Doc{
				Id:        strings.Repeat("d", i%40+1),
				Rev:       &pb.Rev{Pos: int64(i), Id: "967a00dff5e02add41819138abb3284d"},
				Body:      []byte(`{"payload":"` + strings.Repeat("x", i%300) + `"}`),
				NewRevId:  "1b0c6f8d29d1e1b5ad3d2dfe1c2ad0e1",
				Atts:      []*pb.Attachment{{Name: "a.txt", Data: []byte("hi")}},
				AttsSet:   true,
				Revisions: &pb.RevPath{Start: 3, Ids: []string{"a", "b"}},
			})
		}
		want, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Materialize(), want) {
			t.Fatalf("%d docs: codec bytes differ from proto.Marshal's", n)
		}
		got.Free()

		// The received bytes belong to gRPC, which recycles them once
		// Unmarshal returns: what was read must not change with them.
		received := bytes.Clone(want)
		var back pb.UpdateRequest
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(received)}, &back); err != nil {
			t.Fatal(err)
		}
		clear(received)
		if !proto.Equal(&back, req) {
			t.Fatalf("%d docs: codec read back a different message", n)
		}
		var resp pb.UpdateResponse
		respBytes, _ := proto.Marshal(&pb.UpdateResponse{Results: []*pb.UpdateResult{{Id: "a", Rev: &pb.Rev{Pos: 1, Id: "x"}}}})
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(respBytes)}, &resp); err != nil {
			t.Fatal(err)
		}
		clear(respBytes)
		if resp.GetResults()[0].GetId() != "a" {
			t.Fatalf("response id %q after its buffer was reused, want a", resp.GetResults()[0].GetId())
		}
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x12, 0x05, 0x0a})}, &pb.UpdateRequest{}); err == nil {
		t.Error("truncated message: want an error")
	}
}

// TestReceivedDocKeepsNoBuffer checks that a received document's strings
// are its own: a received UpdateRequest's fields alias its buffer, and an
// id kept after the write (in an error, in the presence filter) must not
// keep the whole message alive. Nor may an append to a body reach into
// the fields after it.
func TestReceivedDocKeepsNoBuffer(t *testing.T) {
	c := newCodec()
	req := &pb.UpdateRequest{Header: &pb.RequestHeader{Shard: "shards/00000000-ffffffff/db.1"}}
	for _, id := range []string{"first", "second"} {
		req.Docs = append(req.Docs, &pb.Doc{
			Id: id, Rev: &pb.Rev{Pos: 1, Id: "967a00dff5e02add41819138abb3284d"},
			NewRevId: "1b0c6f8d29d1e1b5ad3d2dfe1c2ad0e1", Body: []byte(`{"a":1}`),
			Revisions: &pb.RevPath{Start: 1, Ids: []string{"967a00dff5e02add41819138abb3284d"}},
			Atts:      []*pb.Attachment{{Name: "a.txt", ContentType: "text/plain", Data: []byte("hi")}},
			AttsSet:   true,
		})
	}
	req.Docs[1].Body = bytes.Repeat([]byte("x"), 1<<20)
	wire, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got pb.UpdateRequest
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &got); err != nil {
		t.Fatal(err)
	}
	first := docFromProto(got.GetDocs()[0])
	second := docFromProto(got.GetDocs()[1])
	grown := append(first.Body, bytes.Repeat([]byte("X"), 200)...)
	if string(first.Atts[0].Data) != "hi" || second.Body[0] != 'x' {
		t.Fatalf("an append to a received body overwrote the fields after it: attachment %q, next body %.10q",
			first.Atts[0].Data, second.Body)
	}
	runtime.KeepAlive(grown)

	received := weak.Make(unsafe.StringData(got.GetDocs()[0].GetId()))
	first.Body, first.Atts[0].Data = nil, nil // bodies alias the buffer by design
	got, second = pb.UpdateRequest{}, nil
	runtime.GC()
	runtime.GC()
	if received.Value() != nil {
		t.Error("a received document's strings keep the request's buffer alive")
	}
	runtime.KeepAlive(first)
	runtime.KeepAlive(second)
}
