// Package config is Divan's configuration store, with CouchDB's semantics:
// ini sections of string keys and string values, read from layers of
// increasing precedence
//
//	built-in defaults (default.ini, embedded)
//	< -config files, in order
//	< <datadir>/local.ini, the writable layer (CouchDB's last ini file)
//	< overrides (DIVAN_* environment variables, then flags)
//
// and changed at runtime with Set and Delete, which persist to local.ini
// unless asked not to (X-Couch-Persist: false). Reload re-reads the files
// and drops unpersisted changes, as CouchDB's POST _config/_reload does.
// Subscribers are told about every change of a section so the node can
// apply it without a restart.
package config

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/ini.v1"
)

//go:embed default.ini
var defaultINI []byte

// Errors of Set and Delete. The texts of the validation errors are
// CouchDB's (config.erl), which the HTTP API answers with verbatim.
var (
	ErrNotFound       = errors.New("unknown_config_value")
	ErrInvalidSection = errors.New("Invalid configuration section")
	ErrInvalidKey     = errors.New("Invalid configuration key")
	ErrInvalidValue   = errors.New("Invalid configuration value")
)

// Setting is one section/key/value triple.
type Setting struct {
	Section, Key, Value string
}

// Change describes one changed key. Deleted is true when the key no longer
// has a value in any layer.
type Change struct {
	Section, Key string
	Value        string
	Deleted      bool
	Persist      bool
}

// Options configure Open.
type Options struct {
	// Files are read-only ini files (-config), lowest precedence first.
	Files []string
	// LocalFile is the writable layer; it need not exist yet. Empty keeps
	// runtime changes in memory only.
	LocalFile string
	// Overrides sit above every file (environment variables, then flags):
	// later entries win.
	Overrides []Setting
	// Normalize, when set, rewrites a value before it is stored, whether
	// it comes from Set or from a file. It is how [admins] passwords get
	// hashed: a value it changes in a file layer is written back to that
	// file (plain-text admin passwords never stay on disk).
	Normalize func(section, key, value string) (string, error)
	// Logger receives one line per change; nil discards.
	Logger *slog.Logger
}

type key struct{ section, key string }

// Store is the configuration of one node. It is safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger

	mu sync.RWMutex
	// layers are defaults, files..., local.ini, overrides.
	defaults  map[key]string
	files     []map[key]string
	local     *ini.File
	overrides map[key]string
	// runtime holds values set since the last load that must win over
	// the overrides (CouchDB's ets table is simply written to).
	runtime map[key]string
	eff     map[key]string

	subMu sync.Mutex
	subs  map[string]map[int]func(Change)
	nextS int
	// notifyMu serialises notifications so subscribers see changes in
	// the order they were made.
	notifyMu sync.Mutex
}

// loadOptions make gopkg.in/ini.v1 read files the way CouchDB's config
// reader does: "=" is the only delimiter (keys such as "rsa:kid" contain
// ":"), a ";" starts a comment only at the start of a line or after white
// space, quotes are kept, and lines that are not key = value are skipped.
var loadOptions = ini.LoadOptions{
	KeyValueDelimiters:         "=",
	KeyValueDelimiterOnWrite:   "=",
	SpaceBeforeInlineComment:   true,
	PreserveSurroundedQuote:    true,
	IgnoreContinuation:         true,
	SkipUnrecognizableLines:    true,
	AllowPythonMultilineValues: false,
	// Section names such as "cors:http://example.com" contain dots; they
	// must not become child sections that inherit keys.
	ChildSectionDelimiter: "\x00",
}

// Open reads every layer and returns the store.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, log: opts.Logger, subs: map[string]map[int]func(Change){}}
	s.overrides = map[key]string{}
	for _, o := range opts.Overrides {
		if err := Validate(o.Section, o.Key, o.Value); err != nil {
			return nil, fmt.Errorf("config: [%s] %s: %w", o.Section, o.Key, err)
		}
		v, err := s.normalize(o.Section, o.Key, o.Value)
		if err != nil {
			return nil, err
		}
		s.overrides[key{o.Section, o.Key}] = v
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// load (re)reads the file layers and recomputes the effective values; the
// caller holds mu or owns s exclusively.
func (s *Store) load(ctx context.Context) error {
	def, err := ini.LoadSources(loadOptions, defaultINI)
	if err != nil {
		return fmt.Errorf("config: built-in defaults: %w", err)
	}
	s.defaults = flatten(def)
	s.files = s.files[:0]
	for _, path := range s.opts.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := ini.LoadSources(loadOptions, path)
		if err != nil {
			return fmt.Errorf("config: read %s: %w", path, err)
		}
		if err := s.normalizeFile(f, path); err != nil {
			return err
		}
		s.files = append(s.files, flatten(f))
	}
	s.local = ini.Empty(loadOptions)
	if s.opts.LocalFile != "" {
		b, err := os.ReadFile(s.opts.LocalFile)
		switch {
		case err == nil:
			if s.local, err = ini.LoadSources(loadOptions, b); err != nil {
				return fmt.Errorf("config: read %s: %w", s.opts.LocalFile, err)
			}
			if err := s.normalizeFile(s.local, s.opts.LocalFile); err != nil {
				return err
			}
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("config: read %s: %w", s.opts.LocalFile, err)
		}
	}
	s.runtime = map[key]string{}
	s.eff = s.layered()
	return nil
}

// normalizeFile applies Normalize to every value of f and saves f to path
// when a value changed (CouchDB hashes plain-text admin passwords found in
// its ini files and writes the hashes back).
func (s *Store) normalizeFile(f *ini.File, path string) error {
	if s.opts.Normalize == nil {
		return nil
	}
	changed := false
	for _, sec := range f.Sections() {
		for _, k := range sec.Keys() {
			v, err := s.normalize(sec.Name(), k.Name(), k.Value())
			if err != nil {
				return err
			}
			if v != k.Value() {
				k.SetValue(v)
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	if err := writeFile(f, path); err != nil {
		return fmt.Errorf("config: rewrite %s with normalized values: %w", path, err)
	}
	return nil
}

func (s *Store) normalize(section, k, v string) (string, error) {
	if s.opts.Normalize == nil || v == "" {
		return v, nil
	}
	n, err := s.opts.Normalize(section, k, v)
	if err != nil {
		return "", fmt.Errorf("config: [%s] %s: %w", section, k, err)
	}
	return n, nil
}

// flatten returns f's values. As in CouchDB, a key with an empty value is
// no value at all, and keys outside any section are ignored.
func flatten(f *ini.File) map[key]string {
	m := map[key]string{}
	for _, sec := range f.Sections() {
		if sec.Name() == ini.DefaultSection {
			continue
		}
		for _, k := range sec.Keys() {
			if v := strings.TrimSpace(k.Value()); v != "" {
				m[key{sec.Name(), k.Name()}] = v
			}
		}
	}
	return m
}

// layered merges the layers without the runtime values.
func (s *Store) layered() map[key]string {
	m := maps.Clone(s.defaults)
	for _, f := range s.files {
		maps.Copy(m, f)
	}
	maps.Copy(m, flatten(s.local))
	maps.Copy(m, s.overrides)
	return m
}

// legacySections maps a section to the older one CouchDB still reads a
// key from when the section lacks it (chttpd_util:get_chttpd_auth_config):
// many deployments configure [couch_httpd_auth].
var legacySections = map[string]string{"chttpd_auth": "couch_httpd_auth"}

// Get returns the value of section/key (for [chttpd_auth], falling back to
// [couch_httpd_auth] as CouchDB does).
func (s *Store) Get(section, k string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.eff[key{section, k}]
	if !ok {
		if legacy, has := legacySections[section]; has {
			v, ok = s.eff[key{legacy, k}]
		}
	}
	return v, ok
}

// String returns the value of section/key, or def when it has none.
func (s *Store) String(section, k, def string) string {
	if v, ok := s.Get(section, k); ok {
		return v
	}
	return def
}

// Int returns the value of section/key as an integer, or def when it has
// none or is not one (config:get_integer).
func (s *Store) Int(section, k string, def int64) int64 {
	if v, ok := s.Get(section, k); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n
		}
	}
	return def
}

// Bool returns the value of section/key as a boolean ("true"/"false"), or
// def otherwise (config:get_boolean).
func (s *Store) Bool(section, k string, def bool) bool {
	switch v, _ := s.Get(section, k); v {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

// Section returns a copy of one section's values (empty when it has none).
func (s *Store) Section(section string) map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]string{}
	if legacy, has := legacySections[section]; has {
		for k, v := range s.eff {
			if k.section == legacy {
				out[k.key] = v
			}
		}
	}
	for k, v := range s.eff {
		if k.section == section {
			out[k.key] = v
		}
	}
	return out
}

// All returns a copy of every value, by section and key.
func (s *Store) All() map[string]map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]map[string]string{}
	for k, v := range s.eff {
		sec := out[k.section]
		if sec == nil {
			sec = map[string]string{}
			out[k.section] = sec
		}
		sec[k.key] = v
	}
	return out
}

// Validate applies CouchDB's rules for values changed at runtime
// (config:validate_config_update): section, key and value hold only
// printable characters, tabs and spaces, and section and key no "[" or "]"
// (so a value cannot smuggle in an ini section header).
func Validate(section, k, value string) error {
	switch {
	case !printable(section) || strings.ContainsAny(section, "[]"):
		return ErrInvalidSection
	case !printable(k) || strings.ContainsAny(k, "[]"):
		return ErrInvalidKey
	case !printable(value):
		return ErrInvalidValue
	}
	return nil
}

// printable is CouchDB's ^[[:graph:]\t\s]*$ (written in an Erlang string,
// so the class is graphic characters, tab and space). Erlang's re compiles
// it without ucp, so [[:graph:]] is ASCII only: line breaks, other control
// characters and non-ASCII text are all refused.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\t' && (c < 0x20 || c > 0x7e) {
			return false
		}
	}
	return true
}

// Set stores value under section/key and returns the previous value ("" if
// there was none). With persist it is also written to local.ini.
func (s *Store) Set(ctx context.Context, section, k, value string, persist bool) (old string, err error) {
	if err := Validate(section, k, value); err != nil {
		return "", err
	}
	value, err = s.normalize(section, k, value)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	kk := key{section, k}
	old = s.eff[kk]
	if persist && s.opts.LocalFile != "" {
		if err := ctx.Err(); err != nil {
			s.mu.Unlock()
			return "", err
		}
		prev, had := s.local.Section(section).GetKey(k)
		var prevVal string
		if had == nil {
			prevVal = prev.Value()
		}
		s.local.Section(section).Key(k).SetValue(value)
		err := roundTrips(s.local, section, k, value)
		if err == nil {
			err = writeFile(s.local, s.opts.LocalFile)
		}
		if err != nil {
			// Keep memory and disk in step.
			if had == nil {
				prev.SetValue(prevVal)
			} else {
				s.local.Section(section).DeleteKey(k)
			}
			s.mu.Unlock()
			return "", fmt.Errorf("config: save %s: %w", s.opts.LocalFile, err)
		}
	}
	s.runtime[kk] = value
	s.eff[kk] = value
	s.mu.Unlock()
	s.log.Info("config set", "section", section, "key", k, "value", conceal(section, k, value), "persist", persist)
	s.notify([]Change{{Section: section, Key: k, Value: value, Persist: persist}})
	return old, nil
}

// Delete removes section/key and returns the value it had; ErrNotFound when
// it had none. As in CouchDB, a value that a file layer still provides
// (defaults, -config files, or local.ini when not persisting) comes back.
func (s *Store) Delete(ctx context.Context, section, k string, persist bool) (old string, err error) {
	s.mu.Lock()
	kk := key{section, k}
	old, ok := s.eff[kk]
	if !ok {
		s.mu.Unlock()
		return "", ErrNotFound
	}
	if persist && s.opts.LocalFile != "" && s.local.Section(section).HasKey(k) {
		if err := ctx.Err(); err != nil {
			s.mu.Unlock()
			return "", err
		}
		prev := s.local.Section(section).Key(k).Value()
		s.local.Section(section).DeleteKey(k)
		if len(s.local.Section(section).Keys()) == 0 {
			s.local.DeleteSection(section)
		}
		if err := writeFile(s.local, s.opts.LocalFile); err != nil {
			s.local.Section(section).Key(k).SetValue(prev)
			s.mu.Unlock()
			return "", fmt.Errorf("config: save %s: %w", s.opts.LocalFile, err)
		}
	}
	delete(s.runtime, kk)
	ch := Change{Section: section, Key: k, Persist: persist}
	if v, ok := s.layered()[kk]; ok {
		s.eff[kk] = v
		ch.Value = v
	} else {
		delete(s.eff, kk)
		ch.Deleted = true
	}
	s.mu.Unlock()
	s.log.Info("config deleted", "section", section, "key", k, "persist", persist)
	s.notify([]Change{ch})
	return old, nil
}

// Reload re-reads the files, dropping values that were set without being
// persisted, and notifies subscribers of every difference.
func (s *Store) Reload(ctx context.Context) error {
	s.mu.Lock()
	before := s.eff
	saved := struct {
		files   []map[key]string
		local   *ini.File
		runtime map[key]string
	}{slices.Clone(s.files), s.local, s.runtime}
	if err := s.load(ctx); err != nil {
		s.files, s.local, s.runtime, s.eff = saved.files, saved.local, saved.runtime, before
		s.mu.Unlock()
		return err
	}
	var changes []Change
	for k, v := range s.eff {
		if old, ok := before[k]; !ok || old != v {
			changes = append(changes, Change{Section: k.section, Key: k.key, Value: v, Persist: true})
		}
	}
	for k := range before {
		if _, ok := s.eff[k]; !ok {
			changes = append(changes, Change{Section: k.section, Key: k.key, Deleted: true, Persist: true})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(changes, func(a, b Change) int {
		return strings.Compare(a.Section+"\x00"+a.Key, b.Section+"\x00"+b.Key)
	})
	s.log.Info("config reloaded", "changes", len(changes))
	s.notify(changes)
	return nil
}

// Subscribe calls fn after every change of a key in section ("" for every
// section). Calls are made one at a time, in the order of the changes,
// after the store is updated (so fn may read it); fn must not call Set,
// Delete or Reload. The returned function unsubscribes.
func (s *Store) Subscribe(section string, fn func(Change)) (cancel func()) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	id := s.nextS
	s.nextS++
	if s.subs[section] == nil {
		s.subs[section] = map[int]func(Change){}
	}
	s.subs[section][id] = fn
	return func() {
		s.subMu.Lock()
		defer s.subMu.Unlock()
		delete(s.subs[section], id)
	}
}

func (s *Store) notify(changes []Change) {
	if len(changes) == 0 {
		return
	}
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	for _, c := range changes {
		s.subMu.Lock()
		fns := slices.Collect(maps.Values(s.subs[c.Section]))
		fns = append(fns, slices.Collect(maps.Values(s.subs[""]))...)
		s.subMu.Unlock()
		for _, fn := range fns {
			fn(c)
		}
	}
}

// LocalFile returns the path of the writable layer ("" when none).
func (s *Store) LocalFile() string { return s.opts.LocalFile }

// conceal hides credentials in logs: [admins] (CouchDB's
// config:is_sensitive), and, beyond CouchDB, [jwt_keys] and any key naming
// a password or secret ([chttpd_auth] secret, [replicator] password).
func conceal(section, k, v string) string {
	lk := strings.ToLower(k)
	if section == "admins" || section == "jwt_keys" || strings.Contains(lk, "password") || strings.Contains(lk, "secret") {
		return "'****'"
	}
	return v
}

// roundTrips checks that f, once written, reads back with value under
// section/key: ini.v1 cannot write every string (a value holding both kinds
// of quotes, for one), and a local.ini that no longer parses would keep the
// node from starting.
func roundTrips(f *ini.File, section, k, value string) error {
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return err
	}
	back, err := ini.LoadSources(loadOptions, buf.Bytes())
	if err != nil {
		return ErrInvalidValue
	}
	if v := strings.TrimSpace(value); v != "" && flatten(back)[key{section, k}] != v {
		return ErrInvalidValue
	}
	return nil
}

// writeFile saves f to path atomically: a temporary file in the same
// directory, fsync'd, renamed over path, and the directory fsync'd, so a
// crash leaves either the old or the new file, never a torn one.
func writeFile(f *ini.File, path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := f.WriteTo(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
