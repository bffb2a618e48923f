package httpapi

import (
	"regexp"
	"strconv"
	"testing"
)

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// detGen returns a generator with deterministic randomness.
func detGen(algo string) *uuidGen {
	g := newUUIDGen(algo, "")
	var n byte
	g.randBytes = func(b []byte) {
		for i := range b {
			n++
			b[i] = n
		}
	}
	g.randInc = func() uint32 { return 0xffd } // the largest step
	return g
}

func TestSequentialUUIDs(t *testing.T) {
	g := detGen(UUIDSequential)
	first := g.next()
	if !hex32.MatchString(first) {
		t.Fatalf("%q is not 32 hex digits", first)
	}
	prefix := first[:26]
	prev, _ := strconv.ParseUint(first[26:], 16, 32)
	prevID := first
	if prev != 0xffd {
		t.Fatalf("first counter %x, want the first increment", prev)
	}
	rolled := false
	for i := 0; i < 5000; i++ {
		id := g.next()
		if !hex32.MatchString(id) {
			t.Fatalf("%q is not 32 hex digits", id)
		}
		seq, _ := strconv.ParseUint(id[26:], 16, 32)
		if id[:26] != prefix {
			// A new prefix appears once the counter passed 0xfff000, and
			// the counter starts again at one increment.
			if prev < 0xfff000 {
				t.Fatalf("prefix changed after counter %x", prev)
			}
			if seq != 0xffd {
				t.Fatalf("counter after rollover %x", seq)
			}
			rolled = true
			break
		}
		if seq != prev+0xffd {
			t.Fatalf("counter went %x -> %x, want +0xffd", prev, seq)
		}
		if id <= prevID {
			t.Fatalf("ids are not increasing: %s then %s", prevID, id)
		}
		prev, prevID = seq, id
	}
	if !rolled {
		t.Fatal("no prefix rollover within 5000 ids")
	}
}

func TestSequentialRealRandomness(t *testing.T) {
	g := newUUIDGen(UUIDSequential, "")
	a, b := g.next(), g.next()
	if a[:26] != b[:26] || a >= b {
		t.Fatalf("consecutive ids %s %s: same prefix and increasing expected", a, b)
	}
	step, _ := strconv.ParseUint(b[26:], 16, 32)
	base, _ := strconv.ParseUint(a[26:], 16, 32)
	if d := step - base; d < 1 || d > 0xffd {
		t.Fatalf("increment %d outside 1..4093", d)
	}
	if h := newUUIDGen(UUIDSequential, "").next(); h[:26] == a[:26] {
		t.Fatal("two generators share a prefix")
	}
}

func TestOtherUUIDAlgorithms(t *testing.T) {
	g := newUUIDGen(UUIDRandom, "")
	if a, b := g.next(), g.next(); !hex32.MatchString(a) || a == b {
		t.Fatalf("random ids %q %q", a, b)
	}

	g = newUUIDGen(UUIDUTCRandom, "")
	g.nowMicros = func() int64 { return 0x5f0000000000 }
	a, b := g.next(), g.next()
	if !hex32.MatchString(a) || a[:14] != "005f0000000000" || b[:14] != "005f0000000001" {
		t.Fatalf("utc_random ids %q %q: 14 hex µs, forced monotonic", a, b)
	}

	g = newUUIDGen(UUIDUTCID, "-node1")
	g.nowMicros = func() int64 { return 1700000000000000 }
	if id := g.next(); id != "060a24181e4000-node1" {
		t.Fatalf("utc_id = %q", id)
	}

	g = newUUIDGen(UUIDv7, "")
	g.nowMicros = func() int64 { return 1700000000123456 }
	id := g.next()
	if !hex32.MatchString(id) || id[:12] != "018bcfe5687b" || id[12] != '7' || !regexp.MustCompile(`[89ab]`).MatchString(id[16:17]) {
		t.Fatalf("uuid_v7 = %q: 48-bit ms, version 7, variant 10", id)
	}
	ids := newUUIDGen(UUIDSequential, "").nextN(nil, 3)
	if len(ids) != 3 {
		t.Fatalf("nextN gave %d ids", len(ids))
	}
}

func TestMakeETag(t *testing.T) {
	// Values computed independently from term_to_binary's encoding.
	for _, tc := range []struct {
		items []string
		want  string
	}{
		{nil, `"9S1TZHT62SOTEBBYV5L6W8M9B"`},
		{[]string{"a"}, `"98SB19K80IE0HS5G5C5YY4PMP"`},
		{[]string{"0f1dd33d76b463697d562f95a5000734", "0f1dd33d76b463697d562f95a5000a23"}, `"C386TUH4JEVYPLI8BCLWDZVGZ"`},
	} {
		if got := makeETag(etfBinaryList(tc.items)); got != tc.want {
			t.Errorf("etag of %q = %s, want %s", tc.items, got, tc.want)
		}
	}
}
