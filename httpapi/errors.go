package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/divandb/divan/internal/couch"
)

// Codes httpapi uses that are not part of couch's shared vocabulary.
const (
	codeTooLong couch.Code = "too_long" // 414, request uri too long
	// codeError is the literal "error" error name CouchDB answers with when
	// a cluster-wide metadata write fails on the shards (no_majority).
	codeError couch.Code = "error"
)

// codeStatus is the single table from CouchDB error names to HTTP statuses
// (chttpd:error_info/1). Names not listed are 500s.
var codeStatus = map[couch.Code]int{
	couch.CodeBadRequest:         http.StatusBadRequest,
	couch.CodeQueryParse:         http.StatusBadRequest,
	couch.CodeIllegalDBName:      http.StatusBadRequest,
	couch.CodeDBNameTooLong:      http.StatusBadRequest,
	couch.CodeIllegalDocID:       http.StatusBadRequest,
	couch.CodeDocValidation:      http.StatusBadRequest,
	"illegal_partition":          http.StatusBadRequest,
	"invalid_replication":        http.StatusBadRequest,
	"invalid_since_seq":          http.StatusBadRequest,
	couch.CodeUnauthorized:       http.StatusUnauthorized,
	couch.CodeForbidden:          http.StatusForbidden,
	"partition_overflow":         http.StatusForbidden,
	couch.CodeNotFound:           http.StatusNotFound,
	couch.CodeMethodNotAllowed:   http.StatusMethodNotAllowed,
	couch.CodeNotAcceptable:      http.StatusNotAcceptable,
	couch.CodeConflict:           http.StatusConflict,
	couch.CodeMissingRev:         http.StatusConflict,
	"gone":                       http.StatusGone,
	couch.CodeFileExists:         http.StatusPreconditionFailed,
	couch.CodePreconditionFailed: http.StatusPreconditionFailed,
	couch.CodeMissingStub:        http.StatusPreconditionFailed,
	couch.CodeNodeDown:           http.StatusPreconditionFailed,
	couch.CodeTooLarge:           http.StatusRequestEntityTooLarge,
	couch.CodeDocTooLarge:        http.StatusRequestEntityTooLarge,
	couch.CodeAttTooLarge:        http.StatusRequestEntityTooLarge,
	codeTooLong:                  http.StatusRequestURITooLong,
	couch.CodeBadContentType:     http.StatusUnsupportedMediaType,
	couch.CodeRangeNotSatisfied:  http.StatusRequestedRangeNotSatisfiable,
	couch.CodeExpectationFailed:  http.StatusExpectationFailed,
	couch.CodeNotImplemented:     http.StatusNotImplemented,
	couch.CodeUnavailable:        http.StatusServiceUnavailable,
	"insufficient_storage":       http.StatusInsufficientStorage,
}

// Frequently used errors with CouchDB's exact reasons.
var (
	errTooLarge     = couch.Errorf(couch.CodeTooLarge, "the request entity is too large")
	errInvalidJSON  = couch.Errorf(couch.CodeBadRequest, "invalid UTF-8 JSON")
	errNotJSONObj   = couch.Errorf(couch.CodeBadRequest, "Request body must be a JSON object")
	errBadCType     = couch.Errorf(couch.CodeBadContentType, "Content-Type must be application/json")
	errNotImpl      = couch.Errorf(couch.CodeNotImplemented, "this feature is not yet implemented")
	errTimeout      = couch.Errorf(couch.CodeTimeout, "The request could not be processed in a reasonable amount of time.")
	errBadCreds     = couch.Errorf(couch.CodeUnauthorized, "Name or password is incorrect.")
	errNotAdmin     = couch.Errorf(couch.CodeUnauthorized, "You are not a server admin.")
	errNotDBAdmin   = couch.Errorf(couch.CodeUnauthorized, "You are not a server or db admin.")
	errNoDBAccess   = couch.Errorf(couch.CodeUnauthorized, "You are not authorized to access this db.")
	errDBForbidden  = couch.Errorf(couch.CodeForbidden, "You are not allowed to access this db.")
	errNoMajority   = couch.Errorf(codeError, "no_majority")
	errDrainRefused = couch.Errorf(couch.CodeUnavailable, "The node is shutting down.")
	errURITooLong   = couch.Errorf(codeTooLong, "the request uri is too long")
)

// methodNotAllowed is a 405 with CouchDB's reason and the Allow header.
type methodNotAllowed struct{ allow string }

func (m *methodNotAllowed) Error() string { return "method_not_allowed: Only " + m.allow + " allowed" }

func notAllowed(allow string) error { return &methodNotAllowed{allow: allow} }

// errorInfo maps err to the status, "error" and "reason" of its response,
// as chttpd:error_info does. known is false for errors that are not CouchDB
// errors (they become 500 unknown_error and get logged).
func errorInfo(err error) (status int, name, reason string, known bool) {
	var ma *methodNotAllowed
	if errors.As(err, &ma) {
		return http.StatusMethodNotAllowed, string(couch.CodeMethodNotAllowed), "Only " + ma.allow + " allowed", true
	}
	var ce *couch.Error
	if errors.As(err, &ce) {
		status, ok := codeStatus[ce.Code]
		if !ok {
			status = http.StatusInternalServerError
		}
		if ce.Code == couch.CodeMissingRev {
			// {{not_found, missing}, Rev}: 409 with the not_found name.
			return status, string(couch.CodeNotFound), "missing_rev", true
		}
		return status, string(ce.Code), ce.Reason, true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusInternalServerError, string(errTimeout.Code), errTimeout.Reason, true
	}
	return http.StatusInternalServerError, string(couch.CodeUnknown), err.Error(), false
}

// docErrorInfo is errorInfo for the per-document entries of _bulk_docs
// results (update_doc_result_to_json).
func docErrorInfo(err error) (name, reason string) {
	_, name, reason, _ = errorInfo(err)
	return name, reason
}

// isClientError reports whether err is a request error CouchDB would only
// reach after having checked that the database exists (so a missing
// database must win over it).
func isClientError(err error) bool {
	status, _, _, _ := errorInfo(err)
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge,
		http.StatusUnsupportedMediaType, http.StatusExpectationFailed, http.StatusNotImplemented:
		return true
	}
	return false
}

// badRequest returns a 400 bad_request with the given reason.
func badRequest(reason string) error { return couch.Errorf(couch.CodeBadRequest, "%s", reason) }

// queryParseError returns a 400 query_parse_error.
func queryParseError(reason string) error { return couch.Errorf(couch.CodeQueryParse, "%s", reason) }
