package rpc

import (
	"bytes"
	"strings"
	"testing"

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
