package rpc

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/divandb/divan/internal/couch"
	pb "github.com/divandb/divan/proto/internalv1"
	"github.com/divandb/divan/shard"
)

// The server's streaming calls. Each stops reading as soon as a send fails,
// which is what a client that stops or cancels causes.

// Stream messages are batched: a message goes out once it holds this many
// rows or about this many bytes, whichever comes first.
const (
	streamBatchRows  = 256
	streamBatchBytes = 1 << 20
)

// watchHeartbeat is how often a WatchChanges stream sends the copy's seqs
// without a commit, after checking the copy still exists (a deleted copy
// commits nothing more, so its watch must end). Clients rely on the
// heartbeat to notice idle watches.
const watchHeartbeat = 10 * time.Second

// Docs implements pb.ShardServiceServer. It stops reading as soon as a send
// fails, which is what a cancelled client causes.
func (s *Server) Docs(req *pb.DocsRequest, stream grpc.ServerStreamingServer[pb.DocsResponse]) error {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return toStatus(err)
	}
	q := shard.DocsQuery{
		StartKey:     req.StartKey,
		EndKey:       req.EndKey,
		InclusiveEnd: req.GetInclusiveEnd(),
		Descending:   req.GetDescending(),
		Limit:        int(req.GetLimit()),
		IncludeDocs:  req.GetIncludeDocs(),
	}
	msg := &pb.DocsResponse{}
	size := 0
	flush := func() error {
		if len(msg.Rows) == 0 {
			return nil
		}
		err := stream.Send(msg)
		msg, size = &pb.DocsResponse{}, 0
		return err
	}
	err = sh.Docs(stream.Context(), q, func(r shard.DocRow) error {
		msg.Rows = append(msg.Rows, docRowToProto(&r))
		size += rowSize(r.ID, r.Doc)
		if len(msg.Rows) >= streamBatchRows || size >= streamBatchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return toStatus(err)
}

func rowSize(id string, doc *couch.Revision) int {
	n := len(id) + 64
	if doc != nil {
		n += len(doc.Body) + 128*len(doc.Atts)
	}
	return n
}

// Changes implements pb.ShardServiceServer. It stops reading as soon as a
// send fails, which is what a cancelled client causes.
func (s *Server) Changes(req *pb.ChangesRequest, stream grpc.ServerStreamingServer[pb.ChangesResponse]) error {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return toStatus(err)
	}
	msg := &pb.ChangesResponse{}
	size := 0
	flush := func() error {
		if len(msg.Changes) == 0 {
			return nil
		}
		err := stream.Send(msg)
		msg, size = &pb.ChangesResponse{}, 0
		return err
	}
	visit := func(c shard.Change) error {
		pc, err := changeToProto(&c)
		if err != nil {
			return err
		}
		msg.Changes = append(msg.Changes, pc)
		size += len(pc.Id) + len(pc.RevTree) + 16
		if len(msg.Changes) >= streamBatchRows || size >= streamBatchBytes {
			return flush()
		}
		return nil
	}
	if req.GetDescending() {
		err = sh.ChangesDescending(stream.Context(), req.GetSince(), visit)
	} else {
		err = sh.Changes(stream.Context(), req.GetSince(), visit)
	}
	if err == nil {
		err = flush()
	}
	return toStatus(err)
}

// attachmentChunk is the size of the pieces AttachmentData streams.
const attachmentChunk = 1 << 20

// AttachmentData implements pb.ShardServiceServer.
func (s *Server) AttachmentData(req *pb.AttachmentDataRequest, stream grpc.ServerStreamingServer[pb.AttachmentDataResponse]) error {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return toStatus(err)
	}
	data, err := sh.AttachmentData(stream.Context(), req.GetDigest())
	if err != nil {
		return toStatus(err)
	}
	for len(data) > 0 {
		n := min(len(data), attachmentChunk)
		if err := stream.Send(&pb.AttachmentDataResponse{Chunk: data[:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// WatchChanges implements pb.ShardServiceServer: the copy's seqs when the
// watch is in place, then after each committed batch of writes (writes
// committed while a message is in flight coalesce into the next) and on
// every heartbeat. It ends when the client cancels, the Server closes or the
// copy is deleted.
func (s *Server) WatchChanges(req *pb.WatchChangesRequest, stream grpc.ServerStreamingServer[pb.WatchChangesResponse]) error {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	for {
		// Subscribe before reading the seq, so no commit falls in between.
		changed := sh.Changed()
		info, err := sh.Info(ctx)
		if err != nil {
			return toStatus(err)
		}
		if err := stream.Send(&pb.WatchChangesResponse{UpdateSeq: info.UpdateSeq, PurgeSeq: info.PurgeSeq}); err != nil {
			return err
		}
		if err := s.waitCommit(ctx, sh, changed); err != nil {
			return toStatus(err)
		}
	}
}

// waitCommit waits until changed is closed or the heartbeat is due. It
// fails when ctx ends, the Server closes, or sh is no longer the store's copy
// of its name (deleted, or deleted and created anew).
func (s *Server) waitCommit(ctx context.Context, sh *shard.Shard, changed <-chan struct{}) error {
	heartbeat := time.NewTimer(watchHeartbeat)
	defer heartbeat.Stop()
	select {
	case <-changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return errServerClosing
	case <-heartbeat.C:
		cur, err := s.store.Get(sh.Name())
		if err != nil {
			return err
		}
		if cur != sh {
			return fmt.Errorf("copy %s was recreated: %w", sh.Name(), shard.ErrNoShard)
		}
		return nil
	}
}
