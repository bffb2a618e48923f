package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func writeINI(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustGet(t *testing.T, s *Store, section, key, want string) {
	t.Helper()
	got, ok := s.Get(section, key)
	if !ok || got != want {
		t.Fatalf("[%s] %s = %q (present %v), want %q", section, key, got, ok, want)
	}
}

func TestLayering(t *testing.T) {
	dir := t.TempDir()
	f1 := writeINI(t, dir, "a.ini", "[chttpd]\nport = 1111\nbind_address = 0.0.0.0\n[x]\na = 1\nb = 1\nc = 1\nd = 1\n")
	f2 := writeINI(t, dir, "b.ini", "[x]\nb = 2\nc = 2\nd = 2\nempty =\n")
	local := writeINI(t, dir, "local.ini", "[x]\nc = 3\nd = 3\n")
	s, err := Open(context.Background(), Options{
		Files: []string{f1, f2}, LocalFile: local,
		Overrides: []Setting{{"x", "d", "4"}, {"chttpd", "port", "5555"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "x", "a", "1")
	mustGet(t, s, "x", "b", "2")
	mustGet(t, s, "x", "c", "3")
	mustGet(t, s, "x", "d", "4")
	mustGet(t, s, "chttpd", "port", "5555")
	mustGet(t, s, "chttpd", "bind_address", "0.0.0.0")
	mustGet(t, s, "uuids", "algorithm", "sequential") // built-in default
	mustGet(t, s, "ssl", "port", "6984")
	if _, ok := s.Get("x", "empty"); ok {
		t.Fatal("a key with an empty value must have no value, as in CouchDB")
	}
	if got := s.Int("chttpd", "port", 0); got != 5555 {
		t.Fatalf("Int = %d", got)
	}
	if !s.Bool("chttpd", "admin_only_all_dbs", false) {
		t.Fatal("Bool default")
	}
}

func TestINISyntax(t *testing.T) {
	dir := t.TempDir()
	f := writeINI(t, dir, "a.ini", "; comment\n[jwt_keys]\nhmac:_default = aGVsbG8=\n[s]\nk = v ; comment\nk2 = v1;v2\nq = \"quoted\"\ngarbage line\n[cors:http://example.com]\norigins = *\n")
	s, err := Open(context.Background(), Options{Files: []string{f}})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "jwt_keys", "hmac:_default", "aGVsbG8=")
	mustGet(t, s, "s", "k", "v")
	mustGet(t, s, "s", "k2", "v1;v2")
	mustGet(t, s, "s", "q", `"quoted"`)
	mustGet(t, s, "cors:http://example.com", "origins", "*")
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	local := filepath.Join(dir, "sub", "local.ini")
	s, err := Open(ctx, Options{LocalFile: local})
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.Set(ctx, "uuids", "algorithm", "random", true)
	if err != nil || old != "sequential" {
		t.Fatalf("Set = %q, %v", old, err)
	}
	if _, err := s.Set(ctx, "test", "mem", "only", false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "algorithm") || strings.Contains(string(b), "mem") {
		t.Fatalf("local.ini:\n%s", b)
	}
	s2, err := Open(ctx, Options{LocalFile: local})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, s2, "uuids", "algorithm", "random")
	if _, ok := s2.Get("test", "mem"); ok {
		t.Fatal("unpersisted value survived a reopen")
	}

	// Deleting a persisted override of a default brings the default back.
	old, err = s2.Delete(ctx, "uuids", "algorithm", true)
	if err != nil || old != "random" {
		t.Fatalf("Delete = %q, %v", old, err)
	}
	mustGet(t, s2, "uuids", "algorithm", "sequential")
	if _, err := s2.Delete(ctx, "nope", "nope", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete missing: %v", err)
	}
	b, _ = os.ReadFile(local)
	if strings.Contains(string(b), "algorithm") || strings.Contains(string(b), "[uuids]") {
		t.Fatalf("local.ini after delete:\n%s", b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "sub", "*.tmp*")); len(m) > 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

func TestReload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	local := writeINI(t, dir, "local.ini", "[a]\nx = 1\n")
	s, err := Open(ctx, Options{LocalFile: local})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []Change
	cancel := s.Subscribe("a", func(c Change) {
		mu.Lock()
		seen = append(seen, c)
		mu.Unlock()
	})
	defer cancel()
	if _, err := s.Set(ctx, "a", "mem", "v", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(ctx, "b", "other", "v", false); err != nil {
		t.Fatal(err)
	}
	writeINI(t, dir, "local.ini", "[a]\nx = 2\n")
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "a", "x", "2")
	if _, ok := s.Get("a", "mem"); ok {
		t.Fatal("reload kept an unpersisted value")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []Change{
		{Section: "a", Key: "mem", Value: "v"},
		{Section: "a", Key: "mem", Deleted: true, Persist: true},
		{Section: "a", Key: "x", Value: "2", Persist: true},
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("changes\n got %v\nwant %v", seen, want)
	}
}

func TestNormalize(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgFile := writeINI(t, dir, "divan.ini", "[admins]\nalice = plain\n")
	local := writeINI(t, dir, "local.ini", "[admins]\nbob = plain2\n")
	norm := func(section, key, v string) (string, error) {
		if section == "admins" && !strings.HasPrefix(v, "hashed:") {
			return "hashed:" + v, nil
		}
		return v, nil
	}
	s, err := Open(ctx, Options{Files: []string{cfgFile}, LocalFile: local, Normalize: norm,
		Overrides: []Setting{{"admins", "carol", "p3"}}})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "admins", "alice", "hashed:plain")
	mustGet(t, s, "admins", "bob", "hashed:plain2")
	mustGet(t, s, "admins", "carol", "hashed:p3")
	if _, err := s.Set(ctx, "admins", "dave", "p4", true); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "admins", "dave", "hashed:p4")
	for _, p := range []string{cfgFile, local} {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "= plain") || strings.Contains(string(b), "p4") && !strings.Contains(string(b), "hashed:p4") {
			t.Fatalf("%s keeps a plain password:\n%s", p, b)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		s, k, v string
		want    error
	}{
		{"section", "key", "value", nil},
		{"delete", "empty_value", "", nil},
		{"s", "k", "tab\tand space", nil},
		{"sect[ion", "key", "value", ErrInvalidSection},
		{"sect]ion", "key", "value", ErrInvalidSection},
		{"section\n", "key", "value", ErrInvalidSection},
		{"section", "key\r", "value", ErrInvalidKey},
		{"section", "[key", "value", ErrInvalidKey},
		{"section", "key", "value\n", ErrInvalidValue},
		{"section", "key", "value\r\n", ErrInvalidValue},
		{"section", "key", "[brackets] are fine", nil},
		{"section", "key", "caf\u00e9", ErrInvalidValue},
	} {
		if got := Validate(tc.s, tc.k, tc.v); !errors.Is(got, tc.want) && got != tc.want {
			t.Errorf("Validate(%q, %q, %q) = %v, want %v", tc.s, tc.k, tc.v, got, tc.want)
		}
	}
	s, _ := Open(context.Background(), Options{})
	if _, err := s.Set(context.Background(), "s", "k", "a\nb", true); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("Set with a newline: %v", err)
	}
}

func TestConcurrentSet(t *testing.T) {
	ctx := context.Background()
	local := filepath.Join(t.TempDir(), "local.ini")
	s, err := Open(ctx, Options{LocalFile: local})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if _, err := s.Set(ctx, "c", fmt.Sprintf("k%d", g), fmt.Sprint(i), true); err != nil {
					t.Error(err)
					return
				}
				s.All()
			}
		}()
	}
	wg.Wait()
	s2, err := Open(ctx, Options{LocalFile: local})
	if err != nil {
		t.Fatal(err)
	}
	for g := range 8 {
		mustGet(t, s2, "c", fmt.Sprintf("k%d", g), "19")
	}
}

// FuzzPersistRoundTrip checks that every value Set accepts survives being
// written to local.ini and read back.
func FuzzPersistRoundTrip(f *testing.F) {
	for _, v := range []string{"v", "a;b", "a ; b", "#x", "`x`", `"q"`, "k = v", "[s]", "-pbkdf2:sha256-ab,cd,10", "x\ty"} {
		f.Add("sec", "key", v)
	}
	f.Fuzz(func(t *testing.T, section, key, value string) {
		value = strings.TrimSpace(value)
		section, key = strings.TrimSpace(section), strings.TrimSpace(key)
		if Validate(section, key, value) != nil || value == "" || section == "" || key == "" ||
			strings.ContainsAny(key, "=;#") || key == "-" || // ini.v1: "-" is an auto-increment key
			strings.ContainsAny(section, ";#") {
			t.Skip()
		}
		ctx := context.Background()
		local := filepath.Join(t.TempDir(), "local.ini")
		s, err := Open(ctx, Options{LocalFile: local})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Set(ctx, section, key, value, true); err != nil {
			if errors.Is(err, ErrInvalidValue) {
				t.Skip() // refused rather than written unreadable
			}
			t.Fatal(err)
		}
		s2, err := Open(ctx, Options{LocalFile: local})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s2.Get(section, key); got != value {
			b, _ := os.ReadFile(local)
			t.Fatalf("[%s] %s: set %q, read back %q; file:\n%s", section, key, value, got, b)
		}
	})
}

// TestSetLogsNoCredentials: a change is logged, but never the value of an
// admin's hash, a secret, a password or a JWT key.
func TestSetLogsNoCredentials(t *testing.T) {
	var logs strings.Builder
	s, err := Open(context.Background(), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []Setting{
		{"admins", "root", "-pbkdf2:sha256-0011,2233,10"},
		{"chttpd_auth", "secret", "s3cr3t-value"},
		{"replicator", "password", "p4ss-value"},
		{"jwt_keys", "hmac:_default", "a2V5LXZhbHVl"},
		{"uuids", "algorithm", "random"},
	} {
		if _, err := s.Set(context.Background(), set.Section, set.Key, set.Value, false); err != nil {
			t.Fatal(err)
		}
	}
	out := logs.String()
	for _, secret := range []string{"0011,2233", "s3cr3t-value", "p4ss-value", "a2V5LXZhbHVl"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "random") {
		t.Errorf("ordinary values should be logged:\n%s", out)
	}
}

// TestLegacyAuthSection: [chttpd_auth] keys fall back to the older
// [couch_httpd_auth] section, and [chttpd_auth] wins when both have one
// (chttpd_util:get_chttpd_auth_config).
func TestLegacyAuthSection(t *testing.T) {
	dir := t.TempDir()
	f := writeINI(t, dir, "a.ini", "[couch_httpd_auth]\ntimeout = 3600\nsecret = old\nrequire_valid_user = true\n[chttpd_auth]\nsecret = new\n")
	s, err := Open(context.Background(), Options{Files: []string{f}})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "chttpd_auth", "timeout", "3600")
	mustGet(t, s, "chttpd_auth", "secret", "new")
	if !s.Bool("chttpd_auth", "require_valid_user", false) {
		t.Error("require_valid_user from [couch_httpd_auth] not seen")
	}
	sec := s.Section("chttpd_auth")
	if sec["timeout"] != "3600" || sec["secret"] != "new" {
		t.Errorf("Section(chttpd_auth) = %v", sec)
	}
	if got := s.Int("chttpd_auth", "iterations", 600000); got != 600000 {
		t.Errorf("iterations default = %d", got)
	}
}
