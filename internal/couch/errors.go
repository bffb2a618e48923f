package couch

import "fmt"

// Code names a CouchDB error as it appears in the "error" member of an HTTP
// error body. httpapi maps each Code to its HTTP status in one table.
type Code string

// The CouchDB error vocabulary used across Divan's layers.
const (
	CodeBadRequest         Code = "bad_request"
	CodeQueryParse         Code = "query_parse_error"
	CodeNotFound           Code = "not_found"
	CodeMissingRev         Code = "missing_rev" // 409 not_found "missing_rev" in CouchDB
	CodeConflict           Code = "conflict"
	CodeFileExists         Code = "file_exists"
	CodeIllegalDBName      Code = "illegal_database_name"
	CodeDBNameTooLong      Code = "database_name_too_long"
	CodeIllegalDocID       Code = "illegal_docid"
	CodeDocValidation      Code = "doc_validation"
	CodeForbidden          Code = "forbidden"
	CodeUnauthorized       Code = "unauthorized"
	CodeTooLarge           Code = "too_large"
	CodeDocTooLarge        Code = "document_too_large"
	CodeAttTooLarge        Code = "attachment_too_large"
	CodeBadContentType     Code = "bad_content_type"
	CodePreconditionFailed Code = "precondition_failed"
	CodeMissingStub        Code = "missing_stub"
	CodeNotImplemented     Code = "not_implemented"
	CodeExpectationFailed  Code = "expectation_failed"
	CodeMethodNotAllowed   Code = "method_not_allowed"
	CodeNotAcceptable      Code = "not_acceptable"
	CodeRangeNotSatisfied  Code = "requested_range_not_satisfiable"
	CodeNodeDown           Code = "nodedown"
	CodeTimeout            Code = "timeout"
	CodeUnavailable        Code = "service unavailable"
	CodeInternal           Code = "internal_server_error"
	CodeUnknown            Code = "unknown_error"
)

// Error is a CouchDB-visible failure: a code from the vocabulary above and a
// human-readable reason. Layers return it (usually wrapped) and httpapi
// renders it as {"error": Code, "reason": Reason}.
type Error struct {
	Code   Code
	Reason string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Reason }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, couch.ErrConflict) matches any conflict whatever its reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with the given code and a formatted reason.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Sentinels for the errors matched most often; compare with errors.Is.
var (
	ErrNotFound    = &Error{Code: CodeNotFound, Reason: "missing"}
	ErrDeleted     = &Error{Code: CodeNotFound, Reason: "deleted"}
	ErrNoDB        = &Error{Code: CodeNotFound, Reason: "Database does not exist."}
	ErrConflict    = &Error{Code: CodeConflict, Reason: "Document update conflict."}
	ErrDBExists    = &Error{Code: CodeFileExists, Reason: "The database could not be created, the file already exists."}
	ErrBadRev      = &Error{Code: CodeBadRequest, Reason: "Invalid rev format"}
	ErrNotObject   = &Error{Code: CodeBadRequest, Reason: "Document must be a JSON object"}
	ErrUnavailable = &Error{Code: CodeUnavailable, Reason: "The node is shutting down."}
)
