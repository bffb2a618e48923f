package mango

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// sel is a selector during normalisation, in the shape mango_selector.erl
// gives it: every node is a one-member object whose key is an operator or a
// field path.
type sel struct {
	key  string
	list []*sel // $and, $or, $nor
	sub  *sel   // $not, $elemMatch, $allMatch, $keyMapMatch; a field's condition
	lit  *jv    // the argument of a terminal operator and of $default
}

func isOp(k string) bool { return strings.HasPrefix(k, "$") }

// erlang renders the node as CouchDB prints a selector in error reasons.
func (s *sel) erlang() string {
	var b strings.Builder
	s.writeErlang(&b)
	return b.String()
}

func (s *sel) writeErlang(b *strings.Builder) {
	b.WriteString("{[{")
	writeErlangBinary(b, s.key)
	b.WriteByte(',')
	switch {
	case s.lit != nil:
		s.lit.writeErlang(b)
	case s.sub != nil:
		s.sub.writeErlang(b)
	default:
		b.WriteByte('[')
		for i, x := range s.list {
			if i > 0 {
				b.WriteByte(',')
			}
			x.writeErlang(b)
		}
		b.WriteByte(']')
	}
	b.WriteString("}]}")
}

// normalize runs mango_selector:normalize/1: operator validation
// (norm_ops), field paths pushed down to the conditions (norm_fields), and
// negations pushed down to the leaves (norm_negations). The empty selector
// comes back as nil.
func normalize(v *jv) (*sel, error) {
	if v.kind == jObject && len(v.obj) == 0 {
		return nil, nil
	}
	s, err := normOps(v)
	if err != nil {
		return nil, err
	}
	if s, err = normFields(s, ""); err != nil {
		return nil, err
	}
	if s, err = normNegations(s); err != nil {
		return nil, err
	}
	if s.key == "" {
		return nil, errMissingFieldName
	}
	return s, nil
}

func normOps(v *jv) (*sel, error) {
	if v.kind != jObject || len(v.obj) == 0 {
		// A bare value, the empty object included, means equality.
		return &sel{key: "$eq", lit: v}, nil
	}
	if len(v.obj) > 1 {
		// An implicit $and.
		and := &sel{key: "$and"}
		for _, m := range v.obj {
			s, err := normOps(&jv{kind: jObject, obj: []member{m}})
			if err != nil {
				return nil, err
			}
			and.list = append(and.list, s)
		}
		return and, nil
	}
	k, a := v.obj[0].key, v.obj[0].val
	switch k {
	case "$and", "$or", "$nor":
		if a.kind != jArray {
			return nil, badArg(k, a)
		}
		s := &sel{key: k, list: make([]*sel, 0, len(a.arr))}
		for _, x := range a.arr {
			n, err := normOps(x)
			if err != nil {
				return nil, err
			}
			s.list = append(s.list, n)
		}
		return s, nil
	case "$not", "$elemMatch", "$allMatch", "$keyMapMatch":
		if a.kind != jObject {
			return nil, badArg(k, a)
		}
		n, err := normOps(a)
		if err != nil {
			return nil, err
		}
		return &sel{key: k, sub: n}, nil
	case "$in", "$nin", "$all":
		if a.kind != jArray {
			return nil, badArg(k, a)
		}
	case "$exists":
		if a.kind != jTrue && a.kind != jFalse {
			return nil, badArg(k, a)
		}
	case "$type":
		if a.kind != jString {
			return nil, badArg(k, a)
		}
	case "$mod":
		// CouchDB accepts a zero divisor here and then fails while matching
		// (badarith); its documentation asks for a non-zero divisor, so a
		// zero is refused up front.
		if a.kind != jArray || len(a.arr) != 2 || a.arr[0].kind != jInt || a.arr[1].kind != jInt ||
			a.arr[0].integer().Sign() == 0 {
			return nil, badArg(k, a)
		}
	case "$regex":
		if a.kind != jString {
			return nil, errInvalidOperator(k)
		}
		if _, err := compileRegex(a.str); err != nil {
			return nil, badArg(k, a)
		}
	case "$beginsWith":
		if a.kind != jString {
			return nil, errInvalidOperator(k)
		}
		if !utf8.ValidString(a.str) {
			return nil, badArg(k, a)
		}
	case "$size":
		if a.kind != jInt || a.integer().Sign() < 0 {
			return nil, badArg(k, a)
		}
	case "$text":
		switch a.kind {
		case jString, jInt, jFloat, jTrue, jFalse:
		default:
			return nil, badArg(k, a)
		}
		text := &jv{kind: jObject, obj: []member{{key: "$text", val: a}}}
		return &sel{key: "$default", lit: text}, nil
	case "$default", "$lt", "$lte", "$eq", "$ne", "$gte", "$gt":
	case "$where", "$geoWithin", "$geoIntersects", "$near", "$nearSphere":
		return nil, errNotSupported(k)
	default:
		if isOp(k) {
			return nil, errInvalidOperator(k)
		}
		n, err := normOps(a)
		if err != nil {
			return nil, err
		}
		return &sel{key: k, sub: n}, nil
	}
	return &sel{key: k, lit: a}, nil
}

// normFields turns {a: {b: {$gt: 1}}} into {"a.b": {$gt: 1}} and pushes
// field paths through $and, $or, $not and $nor. The arguments of $elemMatch,
// $allMatch and $keyMapMatch are normalised on their own, relative to the
// array element or key.
func normFields(s *sel, path string) (*sel, error) {
	switch s.key {
	case "$and", "$or", "$nor":
		out := &sel{key: s.key, list: make([]*sel, 0, len(s.list))}
		for _, x := range s.list {
			n, err := normFields(x, path)
			if err != nil {
				return nil, err
			}
			out.list = append(out.list, n)
		}
		return out, nil
	case "$not":
		n, err := normFields(s.sub, path)
		if err != nil {
			return nil, err
		}
		return &sel{key: "$not", sub: n}, nil
	case "$elemMatch", "$allMatch", "$keyMapMatch":
		n, err := normFields(s.sub, "")
		if err != nil {
			return nil, err
		}
		return &sel{key: path, sub: &sel{key: s.key, sub: n}}, nil
	case "$default":
		// $text works on the whole document only.
		if path == "" && s.lit.kind == jObject && len(s.lit.obj) == 1 && s.lit.obj[0].key == "$text" {
			return s, nil
		}
		return nil, errBadField(s)
	}
	if isOp(s.key) {
		return &sel{key: path, sub: s}, nil
	}
	if path != "" {
		path += "."
	}
	return normFields(s.sub, path+s.key)
}

// normNegations removes $not and $nor where it can, by De Morgan and by
// negating comparison operators ({$not: {a: {$gt: 1}}} is {a: {$lte: 1}}).
// Like CouchDB it does not look inside field conditions, so negations in
// $elemMatch and friends stay as written.
func normNegations(s *sel) (*sel, error) {
	switch s.key {
	case "$not":
		return negate(s.sub)
	case "$nor":
		return mapList("$and", s.list, negate)
	case "$and", "$or":
		return mapList(s.key, s.list, normNegations)
	case "$elemMatch", "$allMatch", "$keyMapMatch":
		n, err := normNegations(s.sub)
		if err != nil {
			return nil, err
		}
		return &sel{key: s.key, sub: n}, nil
	}
	return s, nil
}

var negated = map[string]string{
	"$lt": "$gte", "$lte": "$gt", "$eq": "$ne", "$ne": "$eq",
	"$gte": "$lt", "$gt": "$lte", "$in": "$nin", "$nin": "$in",
}

func negate(s *sel) (*sel, error) {
	switch s.key {
	case "$not":
		return normNegations(s.sub)
	case "$nor":
		return mapList("$or", s.list, normNegations)
	case "$and":
		return mapList("$or", s.list, negate)
	case "$or":
		return mapList("$and", s.list, negate)
	case "$default":
		return nil, badArgText("$not", s.erlang())
	case "$exists":
		b := &jv{kind: jTrue, raw: []byte("true")}
		if s.lit.kind == jTrue {
			b = &jv{kind: jFalse, raw: []byte("false")}
		}
		return &sel{key: "$exists", lit: b}, nil
	}
	if op, ok := negated[s.key]; ok {
		return &sel{key: op, lit: s.lit}, nil
	}
	if isOp(s.key) {
		return &sel{key: "$not", sub: s}, nil
	}
	n, err := negate(s.sub)
	if err != nil {
		return nil, err
	}
	return &sel{key: s.key, sub: n}, nil
}

func mapList(key string, list []*sel, f func(*sel) (*sel, error)) (*sel, error) {
	out := &sel{key: key, list: make([]*sel, 0, len(list))}
	for _, x := range list {
		n, err := f(x)
		if err != nil {
			return nil, err
		}
		out.list = append(out.list, n)
	}
	return out, nil
}

// splitField parses a normalised field path as mango_util:parse_field: dots
// separate segments unless escaped with a backslash, and backslashes are
// then dropped. Empty segments are refused. The empty path "" (a condition
// on the value itself, inside $elemMatch and friends) has no segments.
func splitField(f string) ([]string, error) {
	if f == "" {
		return nil, nil
	}
	if !strings.Contains(f, `\`) {
		parts := strings.Split(f, ".")
		for _, p := range parts {
			if p == "" {
				return nil, errInvalidFieldName(f)
			}
		}
		return parts, nil
	}
	var parts []string
	start := 0
	for i := 0; i < len(f); i++ {
		if f[i] == '.' && (i == 0 || f[i-1] != '\\') {
			parts = append(parts, f[start:i])
			start = i + 1
		}
	}
	parts = append(parts, f[start:])
	for i, p := range parts {
		if p == "" {
			return nil, errInvalidFieldName(f)
		}
		parts[i] = strings.ReplaceAll(p, `\`, "")
	}
	return parts, nil
}

// compileRegex compiles a $regex pattern. CouchDB runs Erlang's re (PCRE)
// without the unicode option, so pattern and subject are bytes: "." is one
// byte. The pattern is therefore read as Latin-1 (each byte one rune) and
// subjects are widened the same way before matching (see matchRegex).
func compileRegex(p string) (*regexp.Regexp, error) {
	return regexp.Compile(latin1(p))
}

// latin1 maps each byte of s to the rune of the same value.
func latin1(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = utf8.AppendRune(b, rune(s[i]))
	}
	return string(b)
}
