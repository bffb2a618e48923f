package rpc

import (
	"bytes"
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	// Imported for the standard codec it registers, which codec falls back
	// to for messages without generated marshalling code.
	_ "google.golang.org/grpc/encoding/proto"

	pb "github.com/divandb/divan/proto/internalv1"
)

// vtMessage is a message with vtprotobuf's generated, reflection-free
// marshalling (proto/internalv1/*_vtproto.pb.go).
type vtMessage interface {
	SizeVT() int
	MarshalToSizedBufferVT([]byte) (int, error)
	UnmarshalVT([]byte) error
}

// codec is the gRPC codec of both ends of the internal RPC. It speaks the
// standard protobuf wire format under the standard name ("proto"), so it
// interoperates with any gRPC peer, but marshals the generated messages with
// vtprotobuf's code rather than protobuf-go's reflection: the update RPC
// carries every document twice per write at n=3, and its marshalling was
// most of the RPC's cost.
type codec struct {
	fallback encoding.CodecV2
}

func newCodec() codec {
	return codec{fallback: encoding.GetCodecV2("proto")}
}

func (codec) Name() string { return "proto" }

// encodedMessage is a message already marshalled, sent as it is: a write
// sent to several copies is encoded once (couch.SharedEncoding). It is never
// modified once made, so concurrent sends may share it.
type encodedMessage []byte

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(encodedMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(e)}, nil
	}
	m, ok := v.(vtMessage)
	if !ok {
		return c.fallback.Marshal(v)
	}
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, size)
		if err := marshalSized(m, buf); err != nil {
			return nil, fmt.Errorf("marshal %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if err := marshalSized(m, *buf); err != nil {
		pool.Put(buf)
		return nil, fmt.Errorf("marshal %T: %w", v, err)
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// marshalSized fills buf, which is m.SizeVT() long: MarshalToSizedBufferVT
// writes from the end, so a shorter result would leave stale bytes in front.
func marshalSized(m vtMessage, buf []byte) error {
	n, err := m.MarshalToSizedBufferVT(buf)
	if err == nil && n != len(buf) {
		err = fmt.Errorf("wrote %d bytes of %d (message changed while sent?)", n, len(buf))
	}
	return err
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if req, ok := v.(*pb.UpdateRequest); ok {
		// The update RPC carries nearly all the bytes the cluster moves.
		// Its documents' bytes fields alias one buffer of its own rather
		// than each being copied out; its strings alias it too, and
		// docFromProto copies the ones that may outlive the write.
		if err := req.UnmarshalVTUnsafe(ownCopy(data)); err != nil {
			return fmt.Errorf("unmarshal %T: %w", v, err)
		}
		return nil
	}
	m, ok := v.(vtMessage)
	if !ok {
		return c.fallback.Unmarshal(data, v)
	}
	// UnmarshalVT copies what it keeps, so the received buffers go back to
	// the pool.
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if err := m.UnmarshalVT(buf.ReadOnlyData()); err != nil {
		return fmt.Errorf("unmarshal %T: %w", v, err)
	}
	return nil
}

// ownCopy is data.Materialize without zeroing the new buffer first (a
// received update is hundreds of KB): bytes.Join allocates it uninitialized
// and fills it whole.
func ownCopy(data mem.BufferSlice) []byte {
	pieces := make([][]byte, len(data))
	for i, b := range data {
		pieces[i] = b.ReadOnlyData()
	}
	return bytes.Join(pieces, nil)
}
