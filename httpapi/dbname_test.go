package httpapi

import (
	"strings"
	"testing"

	"github.com/divandb/divan/internal/couch"
)

func TestValidateDBName(t *testing.T) {
	illegal := func(n string) string {
		return "Name: '" + n + "'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."
	}
	for _, tc := range []struct {
		name    string
		code    couch.Code
		wantMsg string
	}{
		{name: "db"},
		{name: "a1_$()+-/b"},
		{name: "team/sub/db"},
		{name: "db.1529362187"},    // shard suffix allowed
		{name: "db.couch"},         // .couch is dropped before the check
		{name: "_users"},           // system dbs
		{name: "_replicator"},      // system dbs
		{name: "_global_changes"},  // system dbs
		{name: "team/_replicator"}, // prefixed system db
		{name: "Db", code: couch.CodeIllegalDBName, wantMsg: illegal("Db")},
		{name: "1db", code: couch.CodeIllegalDBName, wantMsg: illegal("1db")},
		{name: "_foo", code: couch.CodeIllegalDBName, wantMsg: illegal("_foo")},
		{name: "a b", code: couch.CodeIllegalDBName, wantMsg: illegal("a b")},
		{name: "db.123", code: couch.CodeIllegalDBName, wantMsg: illegal("db.123")},
		{name: "Team/_replicator", code: couch.CodeIllegalDBName, wantMsg: illegal("Team/_replicator")},
		{name: "a/_other"}, // '_' and '/' are allowed after the first letter
		{name: strings.Repeat("a", 238)},
		{name: strings.Repeat("a", 239), code: couch.CodeDBNameTooLong,
			wantMsg: "At least one path segment of `" + strings.Repeat("a", 239) + "` is too long."},
		{name: strings.Repeat("a", 255) + "/db"},
		{name: strings.Repeat("a", 256) + "/db", code: couch.CodeDBNameTooLong,
			wantMsg: "At least one path segment of `" + strings.Repeat("a", 256) + "/db` is too long."},
	} {
		err := validateDBName(tc.name)
		if tc.code == "" {
			if err != nil {
				t.Errorf("validateDBName(%.40q) = %v, want ok", tc.name, err)
			}
			continue
		}
		ce, ok := err.(*couch.Error)
		if !ok || ce.Code != tc.code || ce.Reason != tc.wantMsg {
			t.Errorf("validateDBName(%.40q) = %v, want %s %q", tc.name, err, tc.code, tc.wantMsg)
		}
	}
}
