package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/divandb/divan/fabric"
	"github.com/divandb/divan/internal/couch"
	pb "github.com/divandb/divan/proto/internalv1"
	"github.com/divandb/divan/shard"
)

// RemoteCopy is a shard copy on another node, reached through a Client. It
// behaves as the *shard.Shard it stands for: same results, same errors
// (*couch.Error, shard.ErrNoShard, ...), plus couch's nodedown when the node
// cannot be reached. It is safe for concurrent use and cheap to create.
type RemoteCopy struct {
	c    *Client
	node string
	name string
	uuid string
	// base is the copy's seqs when the handle was made: the baseline a new
	// watch compares against.
	base seqs
}

var (
	_ fabric.Copy = (*RemoteCopy)(nil)
	_ interface {
		Changes(ctx context.Context, since uint64, fn func(shard.Change) error) error
		ChangesDescending(ctx context.Context, since uint64, fn func(shard.Change) error) error
		CountChanges(ctx context.Context, since uint64) (int64, error)
		ReadWinner(ctx context.Context, c shard.Change) (*couch.Revision, error)
		Changed() <-chan struct{}
	} = (*RemoteCopy)(nil)
)

// Node returns the node holding the copy.
func (r *RemoteCopy) Node() string { return r.node }

// Name returns the copy's shard name.
func (r *RemoteCopy) Name() string { return r.name }

// UUID returns the copy's uuid.
func (r *RemoteCopy) UUID() string { return r.uuid }

func (r *RemoteCopy) header(ctx context.Context) *pb.RequestHeader { return header(ctx, r.name) }

// maxUpdateBytes bounds the documents one Update call carries; bigger writes
// are split into several calls, applied in order.
const maxUpdateBytes = MaxMessageSize / 2

// Update implements fabric.Copy.
func (r *RemoteCopy) Update(ctx context.Context, docs []*couch.Doc, opts couch.UpdateOptions) ([]couch.UpdateResult, error) {
	out := make([]couch.UpdateResult, 0, len(docs))
	for first := true; len(docs) > 0; first = false {
		n, size := 0, 0
		for n < len(docs) {
			s := docs[n].Size()
			if n > 0 && size+s > maxUpdateBytes {
				break
			}
			size += s
			n++
		}
		var writeID []byte
		if first && n == len(docs) && !opts.WriteID.IsZero() {
			// A write sent in parts would leave receipts other copies
			// cannot match; it is sent without.
			writeID = opts.WriteID[:]
		}
		request := func() *pb.UpdateRequest {
			req := &pb.UpdateRequest{Header: r.header(ctx), Docs: make([]*pb.Doc, n), NewEdits: opts.NewEdits, WriteId: writeID,
				ReplicateLocal: opts.ReplicateLocal, CompactResults: true}
			for i, d := range docs[:n] {
				req.Docs[i] = docToProto(d)
			}
			return req
		}
		var resp *pb.UpdateResponse
		var err error
		if n == len(docs) && opts.Encoding != nil {
			// The whole write in one message, the same for every copy of
			// the range: encoded once for all of them.
			var data []byte
			data, err = opts.Encoding.Get(r.name+"\x00"+RequestID(ctx), func() ([]byte, error) {
				req := request()
				data := make([]byte, req.SizeVT())
				return data, marshalSized(req, data)
			})
			if err != nil {
				return nil, fmt.Errorf("encode update of %s: %w", r.name, err)
			}
			resp, err = invokeEncoded[pb.UpdateResponse](ctx, r.c, r.node, "Update", pb.ShardService_Update_FullMethodName, data)
		} else {
			resp, err = invoke(ctx, r.c, r.node, "Update", pb.ShardServiceClient.Update, request())
		}
		if err != nil {
			return nil, err
		}
		if out, err = appendUpdateResults(out, resp, docs[:n]); err != nil {
			return nil, fmt.Errorf("update %s on %s: %w", r.name, r.node, err)
		}
		docs = docs[n:]
	}
	return out, nil
}

// appendUpdateResults appends the outcome of writing docs, read from either
// form of resp (a server that predates the compact one ignores the ask).
func appendUpdateResults(out []couch.UpdateResult, resp *pb.UpdateResponse, docs []*couch.Doc) ([]couch.UpdateResult, error) {
	if results := resp.GetResults(); len(results) > 0 {
		for _, res := range results {
			out = append(out, couch.UpdateResult{
				ID: res.GetId(), Rev: revFromProto(res.GetRev()), Err: errorFromProto(res.GetError()),
			})
		}
		return out, nil
	}
	pos, ids := resp.GetRevPos(), resp.GetRevIds()
	if len(pos) != len(docs) || len(ids) != len(docs) {
		return nil, fmt.Errorf("%d and %d revisions for %d documents", len(pos), len(ids), len(docs))
	}
	first := len(out)
	for i, d := range docs {
		out = append(out, couch.UpdateResult{ID: d.ID, Rev: couch.Rev{Pos: int(pos[i]), ID: ids[i]}})
	}
	for _, e := range resp.GetErrors() {
		i := int(e.GetIndex())
		if i >= len(docs) {
			return nil, fmt.Errorf("error for document %d of %d", i, len(docs))
		}
		out[first+i] = couch.UpdateResult{ID: docs[i].ID, Err: errorFromProto(e.GetError())}
	}
	return out, nil
}

// Open implements fabric.Copy.
func (r *RemoteCopy) Open(ctx context.Context, id string, opts couch.OpenOptions) (*couch.Document, error) {
	resp, err := invoke(ctx, r.c, r.node, "Open", pb.ShardServiceClient.Open, &pb.OpenRequest{
		Header:    r.header(ctx),
		Id:        id,
		Rev:       revToProto(opts.Rev),
		OpenRevs:  revsToProto(opts.OpenRevs),
		AllLeaves: opts.AllLeaves,
		Latest:    opts.Latest,
	})
	if err != nil {
		return nil, err
	}
	return documentFromProto(resp.GetDocument())
}

// recvAll reads a server stream to its end, calling fn for each message.
// An error from fn stops the stream (cancelling the call, so the server
// stops reading) and is returned as it is.
func recvAll[Resp any](ctx context.Context, r *RemoteCopy, method string,
	open func(context.Context) (grpc.ServerStreamingClient[Resp], error), fn func(*Resp) error,
) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := open(sctx)
	if err != nil {
		return r.c.wrapErr(ctx, r.node, method, err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return r.c.wrapErr(ctx, r.node, method, err)
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
}

// Docs implements fabric.Copy.
func (r *RemoteCopy) Docs(ctx context.Context, q shard.DocsQuery, fn func(shard.DocRow) error) error {
	svc, err := r.c.service(r.node)
	if err != nil {
		return err
	}
	req := &pb.DocsRequest{
		Header:       r.header(ctx),
		StartKey:     q.StartKey,
		EndKey:       q.EndKey,
		InclusiveEnd: q.InclusiveEnd,
		Descending:   q.Descending,
		Limit:        int64(q.Limit),
		IncludeDocs:  q.IncludeDocs,
	}
	return recvAll(ctx, r, "Docs", func(ctx context.Context) (grpc.ServerStreamingClient[pb.DocsResponse], error) {
		return svc.Docs(ctx, req)
	}, func(msg *pb.DocsResponse) error {
		for _, row := range msg.GetRows() {
			if err := fn(docRowFromProto(row)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Lookup implements fabric.Copy.
func (r *RemoteCopy) Lookup(ctx context.Context, ids []string, includeDocs bool) ([]shard.DocRow, []bool, error) {
	resp, err := invoke(ctx, r.c, r.node, "Lookup", pb.ShardServiceClient.Lookup,
		&pb.LookupRequest{Header: r.header(ctx), Ids: ids, IncludeDocs: includeDocs})
	if err != nil {
		return nil, nil, err
	}
	rows := make([]shard.DocRow, len(resp.GetRows()))
	found := make([]bool, len(resp.GetRows()))
	for i, row := range resp.GetRows() {
		found[i] = row.GetFound()
		rows[i] = docRowFromProto(row.GetRow())
	}
	return rows, found, nil
}

// CountBefore implements fabric.Copy.
func (r *RemoteCopy) CountBefore(ctx context.Context, key string, descending bool) (int64, error) {
	resp, err := invoke(ctx, r.c, r.node, "CountBefore", pb.ShardServiceClient.CountBefore,
		&pb.CountBeforeRequest{Header: r.header(ctx), Key: key, Descending: descending})
	return resp.GetCount(), err
}

// Info implements fabric.Copy.
func (r *RemoteCopy) Info(ctx context.Context) (shard.Info, error) {
	resp, err := invoke(ctx, r.c, r.node, "Info", pb.ShardServiceClient.Info, &pb.InfoRequest{Header: r.header(ctx)})
	if err != nil {
		return shard.Info{}, err
	}
	return infoFromProto(resp), nil
}

// LocalDocs lists the copy's _local documents (internal replication).
func (r *RemoteCopy) LocalDocs(ctx context.Context) ([]shard.LocalDoc, error) {
	resp, err := invoke(ctx, r.c, r.node, "LocalDocs", pb.ShardServiceClient.LocalDocs,
		&pb.LocalDocsRequest{Header: r.header(ctx)})
	if err != nil {
		return nil, err
	}
	if len(resp.GetDocs()) == 0 {
		return nil, nil // as the local copy answers
	}
	out := make([]shard.LocalDoc, len(resp.GetDocs()))
	for i, d := range resp.GetDocs() {
		out[i] = shard.LocalDoc{ID: d.GetId(), Version: d.GetVersion(), Rev: d.GetRev(), Deleted: d.GetDeleted(), Body: d.GetBody()}
	}
	return out, nil
}

// MatchReceipts reports which of another copy's write receipts this copy
// holds too (internal replication; shard.Shard.MatchReceipts).
func (r *RemoteCopy) MatchReceipts(ctx context.Context, rs []shard.Receipt) ([]bool, error) {
	req := &pb.MatchReceiptsRequest{Header: r.header(ctx), Receipts: make([]*pb.Receipt, len(rs))}
	for i, rc := range rs {
		req.Receipts[i] = &pb.Receipt{WriteId: rc.WriteID[:], Digest: rc.Digest[:]}
	}
	resp, err := invoke(ctx, r.c, r.node, "MatchReceipts", pb.ShardServiceClient.MatchReceipts, req)
	if err != nil {
		return nil, err
	}
	if len(resp.GetMatched()) != len(rs) {
		return nil, fmt.Errorf("match receipts on %s: %d answers to %d receipts", r.node, len(resp.GetMatched()), len(rs))
	}
	return resp.GetMatched(), nil
}

// PurgeInfos reads the copy's recorded purges (internal replication).
func (r *RemoteCopy) PurgeInfos(ctx context.Context, since uint64, limit int) ([]shard.PurgeInfo, error) {
	resp, err := invoke(ctx, r.c, r.node, "PurgeInfos", pb.ShardServiceClient.PurgeInfos,
		&pb.PurgeInfosRequest{Header: r.header(ctx), Since: since, Limit: uint32(limit)})
	if err != nil {
		return nil, err
	}
	if len(resp.GetInfos()) == 0 {
		return nil, nil // as the local copy answers
	}
	out := make([]shard.PurgeInfo, len(resp.GetInfos()))
	for i, p := range resp.GetInfos() {
		out[i] = shard.PurgeInfo{Seq: p.GetSeq(), ID: p.GetId(), Revs: revsFromProto(p.GetRevs())}
	}
	return out, nil
}

// Security implements fabric.Copy.
func (r *RemoteCopy) Security(ctx context.Context) ([]byte, uint64, error) {
	resp, err := invoke(ctx, r.c, r.node, "Security", pb.ShardServiceClient.Security,
		&pb.SecurityRequest{Header: r.header(ctx)})
	return resp.GetSecurity(), resp.GetVersion(), err
}

// SetSecurity implements fabric.Copy.
func (r *RemoteCopy) SetSecurity(ctx context.Context, sec []byte, version uint64) (bool, error) {
	resp, err := invoke(ctx, r.c, r.node, "SetSecurity", pb.ShardServiceClient.SetSecurity,
		&pb.SetSecurityRequest{Header: r.header(ctx), Security: sec, Version: &version})
	return resp.GetApplied(), err
}

// RevsLimit implements fabric.Copy.
func (r *RemoteCopy) RevsLimit(ctx context.Context) (int, error) {
	resp, err := invoke(ctx, r.c, r.node, "RevsLimit", pb.ShardServiceClient.RevsLimit,
		&pb.RevsLimitRequest{Header: r.header(ctx)})
	return int(resp.GetLimit()), err
}

// SetRevsLimit implements fabric.Copy.
func (r *RemoteCopy) SetRevsLimit(ctx context.Context, limit int) error {
	_, err := invoke(ctx, r.c, r.node, "SetRevsLimit", pb.ShardServiceClient.SetRevsLimit,
		&pb.SetRevsLimitRequest{Header: r.header(ctx), Limit: int64(limit)})
	return err
}

// Purge implements fabric.Copy.
func (r *RemoteCopy) Purge(ctx context.Context, revs map[string][]couch.Rev) (map[string][]couch.Rev, error) {
	resp, err := invoke(ctx, r.c, r.node, "Purge", pb.ShardServiceClient.Purge,
		&pb.PurgeRequest{Header: r.header(ctx), Docs: docRevsToProto(revs)})
	if err != nil {
		return nil, err
	}
	return docRevsFromProto(resp.GetPurged()), nil
}

// AttachmentData implements fabric.Copy.
func (r *RemoteCopy) AttachmentData(ctx context.Context, digest string) ([]byte, error) {
	svc, err := r.c.service(r.node)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = recvAll(ctx, r, "AttachmentData", func(ctx context.Context) (grpc.ServerStreamingClient[pb.AttachmentDataResponse], error) {
		return svc.AttachmentData(ctx, &pb.AttachmentDataRequest{Header: r.header(ctx), Digest: digest})
	}, func(msg *pb.AttachmentDataResponse) error {
		if out == nil {
			out = msg.GetChunk()
		} else {
			out = append(out, msg.GetChunk()...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevsDiff implements fabric.Copy.
func (r *RemoteCopy) RevsDiff(ctx context.Context, revs map[string][]couch.Rev) (map[string]shard.RevsDiff, error) {
	resp, err := invoke(ctx, r.c, r.node, "RevsDiff", pb.ShardServiceClient.RevsDiff,
		&pb.RevsDiffRequest{Header: r.header(ctx), Docs: docRevsToProto(revs)})
	if err != nil {
		return nil, err
	}
	return revsDiffFromProto(resp.GetDocs()), nil
}

// Changes calls fn for each document changed after since, in seq order, as
// (*shard.Shard).Changes does.
func (r *RemoteCopy) Changes(ctx context.Context, since uint64, fn func(shard.Change) error) error {
	return r.changes(ctx, since, false, fn)
}

// ChangesDescending calls fn for each document changed after since, newest
// first, as (*shard.Shard).ChangesDescending does.
func (r *RemoteCopy) ChangesDescending(ctx context.Context, since uint64, fn func(shard.Change) error) error {
	return r.changes(ctx, since, true, fn)
}

func (r *RemoteCopy) changes(ctx context.Context, since uint64, descending bool, fn func(shard.Change) error) error {
	svc, err := r.c.service(r.node)
	if err != nil {
		return err
	}
	req := &pb.ChangesRequest{Header: r.header(ctx), Since: since, Descending: descending}
	return recvAll(ctx, r, "Changes", func(ctx context.Context) (grpc.ServerStreamingClient[pb.ChangesResponse], error) {
		return svc.Changes(ctx, req)
	}, func(msg *pb.ChangesResponse) error {
		for _, pc := range msg.GetChanges() {
			c, err := changeFromProto(pc)
			if err != nil {
				return err
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		return nil
	})
}

// CountChanges counts the documents changed after since.
func (r *RemoteCopy) CountChanges(ctx context.Context, since uint64) (int64, error) {
	resp, err := invoke(ctx, r.c, r.node, "CountChanges", pb.ShardServiceClient.CountChanges,
		&pb.CountChangesRequest{Header: r.header(ctx), Since: since})
	return resp.GetCount(), err
}

// ReadWinner reads the winning revision's body of a change.
func (r *RemoteCopy) ReadWinner(ctx context.Context, c shard.Change) (*couch.Revision, error) {
	if len(c.Leaves) == 0 {
		return nil, couch.ErrNotFound
	}
	resp, err := invoke(ctx, r.c, r.node, "ReadWinner", pb.ShardServiceClient.ReadWinner,
		&pb.ReadWinnerRequest{Header: r.header(ctx), Id: c.ID, Winner: revToProto(c.Leaves[0].Rev)})
	if err != nil {
		return nil, err
	}
	return revisionFromProto(resp.GetRevision()), nil
}

// Changed returns a channel closed after the copy's next committed write, as
// (*shard.Shard).Changed does. It is backed by one watch stream per copy,
// shared by all handles on it. The channel may also close without a write
// (the watch was re-established and cannot rule one out, or the Client
// closed): readers re-read and wait again, as they must anyway.
func (r *RemoteCopy) Changed() <-chan struct{} {
	return r.c.watcher(r.node, r.name).changed(r.base)
}
