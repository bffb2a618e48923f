package rpc

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/divandb/divan/internal/couch"
	pb "github.com/divandb/divan/proto/internalv1"
	"github.com/divandb/divan/shard"
)

// Server serves the shard copies of one node's store over gRPC. Register it
// on a *grpc.Server built by NewGRPCServer. It is safe for concurrent use.
type Server struct {
	// Embedded so that a new RPC in the proto breaks the build until
	// implemented here.
	pb.UnsafeShardServiceServer

	store *shard.Store
	log   *slog.Logger

	closeOnce sync.Once
	done      chan struct{}
}

var _ pb.ShardServiceServer = (*Server)(nil)

// NewServer returns a Server for store. A nil logger discards.
func NewServer(store *shard.Store, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, log: logger.With("component", "rpc"), done: make(chan struct{})}
}

// Register registers the ShardService on g.
func (s *Server) Register(g *grpc.Server) { pb.RegisterShardServiceServer(g, s) }

// Close ends the long-lived WatchChanges streams (their clients reconnect
// elsewhere or later) so that a following grpc.Server.GracefulStop does not
// wait for them. Other calls keep being served. Close is idempotent.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.done) }) }

// copyOf returns the shard copy a request names.
func (s *Server) copyOf(h *pb.RequestHeader) (*shard.Shard, error) {
	if h.GetShard() == "" {
		return nil, status.Error(codes.InvalidArgument, "rpc: request names no shard copy")
	}
	// A copy: an UpdateRequest's strings alias its buffer (codec.go), and
	// Get may keep the name.
	return s.store.Get(strings.Clone(h.GetShard()))
}

// Update implements pb.ShardServiceServer.
func (s *Server) Update(ctx context.Context, req *pb.UpdateRequest) (*pb.UpdateResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	docs := make([]*couch.Doc, len(req.GetDocs()))
	for i, d := range req.GetDocs() {
		docs[i] = docFromProto(d)
	}
	opts := couch.UpdateOptions{NewEdits: req.GetNewEdits(), ReplicateLocal: req.GetReplicateLocal()}
	if id := req.GetWriteId(); len(id) == len(opts.WriteID) {
		opts.WriteID = couch.WriteID(id)
	}
	res, err := sh.Update(ctx, docs, opts)
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetCompactResults() {
		return compactResults(res), nil
	}
	out := &pb.UpdateResponse{Results: make([]*pb.UpdateResult, len(res))}
	for i, r := range res {
		out.Results[i] = &pb.UpdateResult{Id: r.ID, Rev: revToProto(r.Rev), Error: errorToProto(r.Err)}
	}
	return out, nil
}

// compactResults is res in UpdateResponse's compact form: a revision per
// document and the few errors by index, without a message per document.
func compactResults(res []couch.UpdateResult) *pb.UpdateResponse {
	out := &pb.UpdateResponse{RevPos: make([]int64, len(res)), RevIds: make([]string, len(res))}
	for i, r := range res {
		if r.Err != nil {
			out.Errors = append(out.Errors, &pb.IndexedError{Index: uint32(i), Error: errorToProto(r.Err)})
			continue
		}
		out.RevPos[i], out.RevIds[i] = int64(r.Rev.Pos), r.Rev.ID
	}
	return out
}

// Open implements pb.ShardServiceServer.
func (s *Server) Open(ctx context.Context, req *pb.OpenRequest) (*pb.OpenResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	doc, err := sh.Open(ctx, req.GetId(), couch.OpenOptions{
		Rev:       revFromProto(req.GetRev()),
		OpenRevs:  revsFromProto(req.GetOpenRevs()),
		AllLeaves: req.GetAllLeaves(),
		Latest:    req.GetLatest(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	d, err := documentToProto(doc)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.OpenResponse{Document: d}, nil
}

// Lookup implements pb.ShardServiceServer.
func (s *Server) Lookup(ctx context.Context, req *pb.LookupRequest) (*pb.LookupResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	rows, found, err := sh.Lookup(ctx, req.GetIds(), req.GetIncludeDocs())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.LookupResponse{Rows: make([]*pb.LookupRow, len(rows))}
	for i := range rows {
		out.Rows[i] = &pb.LookupRow{Found: found[i], Row: docRowToProto(&rows[i])}
	}
	return out, nil
}

// CountBefore implements pb.ShardServiceServer.
func (s *Server) CountBefore(ctx context.Context, req *pb.CountBeforeRequest) (*pb.CountBeforeResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	n, err := sh.CountBefore(ctx, req.GetKey(), req.GetDescending())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CountBeforeResponse{Count: n}, nil
}

// Info implements pb.ShardServiceServer.
func (s *Server) Info(ctx context.Context, req *pb.InfoRequest) (*pb.InfoResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := sh.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return infoToProto(info), nil
}

// LocalDocs implements pb.ShardServiceServer.
func (s *Server) LocalDocs(ctx context.Context, req *pb.LocalDocsRequest) (*pb.LocalDocsResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	docs, err := sh.LocalDocs(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.LocalDocsResponse{Docs: make([]*pb.LocalDoc, len(docs))}
	for i, d := range docs {
		out.Docs[i] = &pb.LocalDoc{Id: d.ID, Version: d.Version, Rev: d.Rev, Deleted: d.Deleted, Body: d.Body}
	}
	return out, nil
}

// PurgeInfos implements pb.ShardServiceServer.
func (s *Server) PurgeInfos(ctx context.Context, req *pb.PurgeInfosRequest) (*pb.PurgeInfosResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	infos, err := sh.PurgeInfos(ctx, req.GetSince(), int(req.GetLimit()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.PurgeInfosResponse{Infos: make([]*pb.PurgeInfo, len(infos))}
	for i, p := range infos {
		out.Infos[i] = &pb.PurgeInfo{Seq: p.Seq, Id: p.ID, Revs: revsToProto(p.Revs)}
	}
	return out, nil
}

// MatchReceipts implements pb.ShardServiceServer.
func (s *Server) MatchReceipts(ctx context.Context, req *pb.MatchReceiptsRequest) (*pb.MatchReceiptsResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	rs := make([]shard.Receipt, len(req.GetReceipts()))
	valid := make([]bool, len(rs))
	for i, r := range req.GetReceipts() {
		// A malformed receipt matches nothing.
		if len(r.GetWriteId()) == len(rs[i].WriteID) && len(r.GetDigest()) == len(rs[i].Digest) {
			rs[i].WriteID = couch.WriteID(r.GetWriteId())
			rs[i].Digest = [16]byte(r.GetDigest())
			valid[i] = true
		}
	}
	matched, err := sh.MatchReceipts(ctx, rs)
	if err != nil {
		return nil, toStatus(err)
	}
	for i := range matched {
		matched[i] = matched[i] && valid[i]
	}
	return &pb.MatchReceiptsResponse{Matched: matched}, nil
}

// Security implements pb.ShardServiceServer.
func (s *Server) Security(ctx context.Context, req *pb.SecurityRequest) (*pb.SecurityResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	sec, version, err := sh.Security(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SecurityResponse{Security: sec, Version: &version}, nil
}

// SetSecurity implements pb.ShardServiceServer.
func (s *Server) SetSecurity(ctx context.Context, req *pb.SetSecurityRequest) (*pb.SetSecurityResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	applied, err := sh.SetSecurity(ctx, req.GetSecurity(), req.GetVersion())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SetSecurityResponse{Applied: &applied}, nil
}

// RevsLimit implements pb.ShardServiceServer.
func (s *Server) RevsLimit(ctx context.Context, req *pb.RevsLimitRequest) (*pb.RevsLimitResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	n, err := sh.RevsLimit(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RevsLimitResponse{Limit: int64(n)}, nil
}

// SetRevsLimit implements pb.ShardServiceServer.
func (s *Server) SetRevsLimit(ctx context.Context, req *pb.SetRevsLimitRequest) (*pb.SetRevsLimitResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := sh.SetRevsLimit(ctx, int(req.GetLimit())); err != nil {
		return nil, toStatus(err)
	}
	return &pb.SetRevsLimitResponse{}, nil
}

// Purge implements pb.ShardServiceServer.
func (s *Server) Purge(ctx context.Context, req *pb.PurgeRequest) (*pb.PurgeResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	purged, err := sh.Purge(ctx, docRevsFromProto(req.GetDocs()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PurgeResponse{Purged: docRevsToProto(purged)}, nil
}

// RevsDiff implements pb.ShardServiceServer.
func (s *Server) RevsDiff(ctx context.Context, req *pb.RevsDiffRequest) (*pb.RevsDiffResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	diff, err := sh.RevsDiff(ctx, docRevsFromProto(req.GetDocs()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RevsDiffResponse{Docs: revsDiffToProto(diff)}, nil
}

// CountChanges implements pb.ShardServiceServer.
func (s *Server) CountChanges(ctx context.Context, req *pb.CountChangesRequest) (*pb.CountChangesResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	n, err := sh.CountChanges(ctx, req.GetSince())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CountChangesResponse{Count: n}, nil
}

// ReadWinner implements pb.ShardServiceServer.
func (s *Server) ReadWinner(ctx context.Context, req *pb.ReadWinnerRequest) (*pb.ReadWinnerResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	c := shard.Change{ID: req.GetId()}
	if w := req.GetWinner(); w != nil {
		c.Leaves = []couch.Leaf{{Rev: revFromProto(w)}}
	}
	r, err := sh.ReadWinner(ctx, c)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReadWinnerResponse{Revision: revisionToProto(r)}, nil
}

// OpenCopy implements pb.ShardServiceServer.
func (s *Server) OpenCopy(ctx context.Context, req *pb.OpenCopyRequest) (*pb.OpenCopyResponse, error) {
	sh, err := s.copyOf(req.GetHeader())
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := sh.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.OpenCopyResponse{Uuid: info.UUID, UpdateSeq: info.UpdateSeq, PurgeSeq: info.PurgeSeq}, nil
}

// CreateCopy implements pb.ShardServiceServer.
func (s *Server) CreateCopy(ctx context.Context, req *pb.CreateCopyRequest) (*pb.CreateCopyResponse, error) {
	name := req.GetHeader().GetShard()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "rpc: request names no shard copy")
	}
	if _, err := s.store.Create(ctx, name, req.GetProps()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.CreateCopyResponse{}, nil
}

// DeleteCopy implements pb.ShardServiceServer.
func (s *Server) DeleteCopy(ctx context.Context, req *pb.DeleteCopyRequest) (*pb.DeleteCopyResponse, error) {
	name := req.GetHeader().GetShard()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "rpc: request names no shard copy")
	}
	if err := s.store.Delete(ctx, name); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteCopyResponse{}, nil
}
