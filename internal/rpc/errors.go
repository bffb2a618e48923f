package rpc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/divandb/divan/internal/couch"
	pb "github.com/divandb/divan/proto/internalv1"
	"github.com/divandb/divan/shard"
)

// ErrClientClosed is returned by calls on a closed Client.
var ErrClientClosed = errors.New("rpc: client closed")

// errServerClosing ends long-lived streams when the Server shuts down.
var errServerClosing = status.Error(codes.Unavailable, "rpc: server shutting down")

// wireError is an error rebuilt from the wire whose text, as the server
// wrapped it, differs from that of the error it carries.
type wireError struct {
	msg string
	err error
}

func (e *wireError) Error() string { return e.msg }
func (e *wireError) Unwrap() error { return e.err }

// downError is couch's nodedown for a node that cannot be reached, with the
// transport's reason kept for errors.Is and logs.
type downError struct {
	ce    *couch.Error
	cause error
}

func nodeDown(node string, cause error) error {
	return &downError{ce: couch.Errorf(couch.CodeNodeDown, "%s is down", node), cause: cause}
}

func (e *downError) Error() string   { return e.ce.Error() + " (" + e.cause.Error() + ")" }
func (e *downError) Unwrap() []error { return []error{e.ce, e.cause} }

// errorToProto describes err for the wire; nil for nil.
func errorToProto(err error) *pb.Error {
	if err == nil {
		return nil
	}
	out := &pb.Error{Message: err.Error()}
	var ce *couch.Error
	switch {
	case errors.As(err, &ce):
		out.Kind, out.Code, out.Reason = pb.ErrorKind_ERROR_KIND_COUCH, string(ce.Code), ce.Reason
	case errors.Is(err, shard.ErrNoShard):
		out.Kind = pb.ErrorKind_ERROR_KIND_NO_SHARD
	case errors.Is(err, shard.ErrShardExists):
		out.Kind = pb.ErrorKind_ERROR_KIND_SHARD_EXISTS
	case errors.Is(err, shard.ErrClosed):
		out.Kind = pb.ErrorKind_ERROR_KIND_CLOSED
	}
	return out
}

// errorFromProto rebuilds the error errorToProto described: the same
// *couch.Error or shard sentinel, with the server's full text.
func errorFromProto(e *pb.Error) error {
	if e == nil {
		return nil
	}
	var base error
	switch e.GetKind() {
	case pb.ErrorKind_ERROR_KIND_COUCH:
		base = &couch.Error{Code: couch.Code(e.GetCode()), Reason: e.GetReason()}
	case pb.ErrorKind_ERROR_KIND_NO_SHARD:
		base = shard.ErrNoShard
	case pb.ErrorKind_ERROR_KIND_SHARD_EXISTS:
		base = shard.ErrShardExists
	case pb.ErrorKind_ERROR_KIND_CLOSED:
		base = shard.ErrClosed
	default:
		return errors.New(e.GetMessage())
	}
	if e.GetMessage() == "" || e.GetMessage() == base.Error() {
		return base
	}
	return &wireError{msg: e.GetMessage(), err: base}
}

// grpcCodes gives the status code a couch error travels with. The client
// rebuilds errors from the details, so the code is for observability and
// for gRPC-level tooling only.
var grpcCodes = map[couch.Code]codes.Code{
	couch.CodeNotFound:           codes.NotFound,
	couch.CodeConflict:           codes.Aborted,
	couch.CodeFileExists:         codes.AlreadyExists,
	couch.CodeBadRequest:         codes.InvalidArgument,
	couch.CodeForbidden:          codes.PermissionDenied,
	couch.CodeUnauthorized:       codes.Unauthenticated,
	couch.CodePreconditionFailed: codes.FailedPrecondition,
	couch.CodeTimeout:            codes.DeadlineExceeded,
	couch.CodeNodeDown:           codes.Unavailable,
	couch.CodeUnavailable:        codes.Unavailable,
	couch.CodeNotImplemented:     codes.Unimplemented,
}

// toStatus turns a handler's error into the status the client decodes with
// fromStatus. Context errors become Canceled / DeadlineExceeded without
// details; everything else carries an Error detail.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (e.g. errServerClosing)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	e := errorToProto(err)
	code := codes.Unknown
	switch e.GetKind() {
	case pb.ErrorKind_ERROR_KIND_COUCH:
		if c, ok := grpcCodes[couch.Code(e.GetCode())]; ok {
			code = c
		} else {
			code = codes.FailedPrecondition
		}
	case pb.ErrorKind_ERROR_KIND_NO_SHARD:
		code = codes.NotFound
	case pb.ErrorKind_ERROR_KIND_SHARD_EXISTS:
		code = codes.AlreadyExists
	case pb.ErrorKind_ERROR_KIND_CLOSED:
		code = codes.Unavailable
	}
	st, derr := status.New(code, err.Error()).WithDetails(e)
	if derr != nil {
		return status.Error(code, err.Error())
	}
	return st.Err()
}

// fromStatus turns an RPC error into the error a local copy would have
// returned. Domain errors come back from the status details; a node that
// cannot be reached is couch's nodedown; a call that ended because ctx did
// returns ctx's error.
func fromStatus(ctx context.Context, node, method string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("rpc %s on %s: %w", method, node, ctxErr)
		}
		return fmt.Errorf("rpc %s on %s: %w", method, node, err)
	}
	for _, d := range st.Details() {
		if e, ok := d.(*pb.Error); ok {
			return errorFromProto(e)
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("rpc %s on %s: %w", method, node, ctxErr)
	}
	switch st.Code() {
	case codes.Unavailable:
		return nodeDown(node, err)
	case codes.Canceled:
		return fmt.Errorf("rpc %s on %s: %s: %w", method, node, st.Message(), context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("rpc %s on %s: %s: %w", method, node, st.Message(), context.DeadlineExceeded)
	}
	return fmt.Errorf("rpc %s on %s: %s", method, node, st.Message())
}
