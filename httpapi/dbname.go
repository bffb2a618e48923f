package httpapi

import (
	"regexp"
	"strings"

	"github.com/divandb/divan/internal/couch"
)

// dbNameRE is couch_db's ?DBNAME_REGEX (with dollar_endonly).
var dbNameRE = regexp.MustCompile(`^[a-z][a-z0-9_$()+\-/]*(\.[0-9]{10,})?$`)

// systemDBs are the names couch_db:is_system_db_name accepts (also as the
// last segment of a valid prefix, e.g. "team/_replicator").
var systemDBs = map[string]bool{
	"_dbs": true, "_global_changes": true, "_metadata": true,
	"_nodes": true, "_replicator": true, "_users": true,
}

// Shard files are "<last segment>.<10 digit suffix>.couch": a segment of the
// name must leave room for the 17 bytes of suffix in a 255-byte file name.
const (
	maxDirSegment  = 255
	maxFileSegment = 255 - len(".1234567890.couch")
)

// validateDBName applies couch_db:validate_dbname and the shard file name
// limit fabric_db_create reports as database_name_too_long.
func validateDBName(name string) error {
	noExt := strings.TrimSuffix(name, ".couch")
	if !dbNameRE.MatchString(noExt) && !isSystemDBName(name) {
		return couch.Errorf(couch.CodeIllegalDBName,
			"Name: '%s'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.",
			name)
	}
	segs := strings.Split(name, "/")
	for i, s := range segs {
		limit := maxDirSegment
		if i == len(segs)-1 {
			limit = maxFileSegment
		}
		if len(s) > limit {
			return couch.Errorf(couch.CodeDBNameTooLong, "At least one path segment of `%s` is too long.", name)
		}
	}
	return nil
}

// isSystemDBName is couch_db:is_system_db_name.
func isSystemDBName(name string) bool {
	name = strings.TrimSuffix(name, ".couch")
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return systemDBs[name]
	}
	prefix, base := name[:i], name[i+1:]
	return systemDBs[base] && dbNameRE.MatchString(prefix)
}
