package httpapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/divandb/divan/internal/couch"
)

func TestErrorInfo(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		errName    string
		reason     string
		unexpected bool
	}{
		{"missing doc", couch.ErrNotFound, 404, "not_found", "missing", false},
		{"deleted doc", couch.ErrDeleted, 404, "not_found", "deleted", false},
		{"no db", couch.ErrNoDB, 404, "not_found", "Database does not exist.", false},
		{"wrapped no db", fmt.Errorf("open: %w", couch.ErrNoDB), 404, "not_found", "Database does not exist.", false},
		{"conflict", couch.ErrConflict, 409, "conflict", "Document update conflict.", false},
		{"missing rev", couch.Errorf(couch.CodeMissingRev, "x"), 409, "not_found", "missing_rev", false},
		{"file exists", couch.ErrDBExists, 412, "file_exists", "The database could not be created, the file already exists.", false},
		{"bad request", couch.ErrBadRev, 400, "bad_request", "Invalid rev format", false},
		{"query parse", queryParseError("q"), 400, "query_parse_error", "q", false},
		{"illegal docid", couch.Errorf(couch.CodeIllegalDocID, "d"), 400, "illegal_docid", "d", false},
		{"doc validation", couch.Errorf(couch.CodeDocValidation, "v"), 400, "doc_validation", "v", false},
		{"illegal db name", couch.Errorf(couch.CodeIllegalDBName, "n"), 400, "illegal_database_name", "n", false},
		{"unauthorized", errNotAdmin, 401, "unauthorized", "You are not a server admin.", false},
		{"forbidden", errDBForbidden, 403, "forbidden", "You are not allowed to access this db.", false},
		{"method", notAllowed("GET,HEAD"), 405, "method_not_allowed", "Only GET,HEAD allowed", false},
		{"too large", errTooLarge, 413, "too_large", "the request entity is too large", false},
		{"doc too large", couch.Errorf(couch.CodeDocTooLarge, "big"), 413, "document_too_large", "big", false},
		{"attachment too large", couch.Errorf(couch.CodeAttTooLarge, "a.bin"), 413, "attachment_too_large", "a.bin", false},
		{"bad ctype", errBadCType, 415, "bad_content_type", "Content-Type must be application/json", false},
		{"expectation", couch.Errorf(couch.CodeExpectationFailed, "e"), 417, "expectation_failed", "e", false},
		{"missing stub", couch.Errorf(couch.CodeMissingStub, "s"), 412, "missing_stub", "s", false},
		{"nodedown", couch.Errorf(couch.CodeNodeDown, "n2 is down"), 412, "nodedown", "n2 is down", false},
		{"not implemented", errNotImpl, 501, "not_implemented", "this feature is not yet implemented", false},
		{"unavailable", errDrainRefused, 503, "service unavailable", "The node is shutting down.", false},
		{"timeout", errTimeout, 500, "timeout", "The request could not be processed in a reasonable amount of time.", false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), 500, "timeout", "The request could not be processed in a reasonable amount of time.", false},
		{"no majority", errNoMajority, 500, "error", "no_majority", false},
		{"other code", couch.Errorf("weird_thing", "w"), 500, "weird_thing", "w", false},
		{"plain error", errors.New("disk on fire"), 500, "unknown_error", "disk on fire", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, name, reason, known := errorInfo(tc.err)
			if status != tc.status || name != tc.errName || reason != tc.reason || known == tc.unexpected {
				t.Fatalf("errorInfo = %d %q %q known=%v; want %d %q %q known=%v",
					status, name, reason, known, tc.status, tc.errName, tc.reason, !tc.unexpected)
			}
		})
	}
}

func TestIsClientError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errInvalidJSON, true},
		{notAllowed("POST"), true},
		{errBadCType, true},
		{errTooLarge, true},
		{errNotImpl, true},
		{couch.ErrNotFound, false},
		{couch.ErrConflict, false},
		{errNotAdmin, false},
	} {
		if got := isClientError(tc.err); got != tc.want {
			t.Errorf("isClientError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
