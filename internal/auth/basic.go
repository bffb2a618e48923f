package auth

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/divandb/divan/internal/couch"
)

// HTTP Basic credentials as CouchDB 3.x's couch_httpd_auth:basic_name_pw/1
// reads them:
//
//   - only a header starting with exactly "Basic " (case-sensitive, one
//     space) is considered; anything else (no header, "basic ...",
//     "Bearer ...") yields no credentials and no error, so the next
//     handler may claim the request;
//   - the rest is decoded with Erlang's base64:decode/1, which skips
//     whitespace; a value that does not decode is a 400 bad_request
//     "Authorization header has invalid base64 value";
//   - the decoded bytes are split at the first ':' (re:split parts 2): no
//     colon means no credentials (anonymous), and the pair "_:_" is the
//     "log me out" marker, also anonymous.
//
// CouchDB has no explicit size limit (mochiweb's header buffer bounds it);
// Divan refuses Basic values longer than MaxBasicHeaderLen with the same
// 400, so a giant header cannot feed an unbounded string to PBKDF2 and the
// credential cache.

// MaxBasicHeaderLen bounds the base64 part of a Basic Authorization header.
const MaxBasicHeaderLen = 16 << 10

// ReasonInvalidBasic is CouchDB's reason for an undecodable Basic header.
const ReasonInvalidBasic = "Authorization header has invalid base64 value"

// ParseBasicHeader parses an Authorization header value. ok reports usable
// credentials; err (a wrapped *couch.Error, 400 bad_request) reports a
// Basic header whose value is not base64 or is oversized. Neither ok nor err
// means the request carries no Basic credentials and stays anonymous.
func ParseBasicHeader(header string) (user, pass string, ok bool, err error) {
	rest, isBasic := strings.CutPrefix(header, "Basic ")
	if !isBasic {
		return "", "", false, nil
	}
	if len(rest) > MaxBasicHeaderLen {
		return "", "", false, fmt.Errorf("auth: basic credentials of %d bytes: %w",
			len(rest), couch.Errorf(couch.CodeBadRequest, ReasonInvalidBasic))
	}
	raw, decErr := decodeErlangBase64(rest)
	if decErr != nil {
		return "", "", false, fmt.Errorf("auth: basic credentials: %v: %w",
			decErr, couch.Errorf(couch.CodeBadRequest, ReasonInvalidBasic))
	}
	user, pass, found := strings.Cut(string(raw), ":")
	if !found || (user == "_" && pass == "_") {
		return "", "", false, nil
	}
	return user, pass, true, nil
}

// ParseBasic is ParseBasicHeader for callers that only need usable
// credentials: ok is false for a missing, non-Basic, malformed or oversized
// header and for the "_:_" logout pair.
func ParseBasic(header string) (user, pass string, ok bool) {
	user, pass, ok, err := ParseBasicHeader(header)
	if err != nil {
		return "", "", false
	}
	return user, pass, ok
}

// decodeErlangBase64 is base64:decode/1: the standard alphabet, padding
// required, whitespace ignored anywhere.
func decodeErlangBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decode base64: %w", err)
	}
	return b, nil
}
