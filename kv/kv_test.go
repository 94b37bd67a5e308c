package kv

import (
	"encoding/json"
	"errors"
	"path"
	"strings"
	"testing"
	"time"
	"unsafe"

	"pgregory.net/rapid"
)

const sec = int64(time.Second)

// mustApply applies c and fails the test on error.
func mustApply(t interface {
	Helper()
	Fatalf(string, ...any)
}, s *Store, c *Command) *Event {
	t.Helper()
	ev, err := s.Apply(c)
	if err != nil {
		t.Fatalf("apply %+v: %v", *c, err)
	}
	return ev
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func put(p, v string) *Command { return &Command{Method: MethodPut, Path: p, Value: v} }

func TestErrorStatusCodes(t *testing.T) {
	for code, status := range map[int]int{
		100: 404, 101: 412, 102: 403, 103: 400, 104: 400, 105: 412, 106: 400, 107: 400, 108: 403,
		110: 401, 201: 400, 202: 400, 203: 400, 209: 400, 210: 400, 211: 400, 212: 400,
		300: 500, 301: 500, 400: 400, 401: 400, 500: 400,
	} {
		if got := NewError(code, "", 0).StatusCode(); got != status {
			t.Errorf("code %d: status %d, want %d", code, got, status)
		}
	}
}

func TestErrorJSON(t *testing.T) {
	got := asJSON(t, NewError(EcodeKeyNotFound, "/foo", 7))
	want := `{"errorCode":100,"message":"Key not found","cause":"/foo","index":7}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	got = asJSON(t, NewError(EcodeRaftInternal, "", 0))
	want = `{"errorCode":300,"message":"Raft Internal Error","index":0}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// TestErrorCodes raises every error the store produces, with its cause and
// index.
func TestErrorCodes(t *testing.T) {
	setup := []*Command{
		put("/file", "one"),                            // 1
		{Method: MethodPut, Path: "/dir", Dir: true},   // 2
		put("/dir/child", "c"),                         // 3
		{Method: MethodPut, Path: "/empty", Dir: true}, // 4
	}
	cases := []struct {
		name  string
		cmd   *Command
		code  int
		cause string
		index uint64
	}{
		{"get missing", &Command{Method: MethodQuorumGet, Path: "/nope/deeper"}, 100, "/nope", 4},
		{"update missing", &Command{Method: MethodPut, Path: "/nope", PrevExist: Bool(true)}, 100, "/nope", 4},
		{"cas missing", &Command{Method: MethodPut, Path: "/nope", PrevValue: "x"}, 100, "/nope", 4},
		{"delete missing", &Command{Method: MethodDelete, Path: "/nope"}, 100, "/nope", 4},
		{"refresh missing", &Command{Method: MethodPut, Path: "/nope", Refresh: true, TTLSec: Uint64(5)}, 100, "/nope", 4},
		{"cas value", &Command{Method: MethodPut, Path: "/file", PrevValue: "two", Value: "x"}, 101, "[two != one]", 4},
		{"cas index", &Command{Method: MethodPut, Path: "/file", PrevIndex: 9, Value: "x"}, 101, "[9 != 1]", 4},
		{"cas both", &Command{Method: MethodPut, Path: "/file", PrevValue: "two", PrevIndex: 9}, 101, "[two != one] [9 != 1]", 4},
		{"cad value", &Command{Method: MethodDelete, Path: "/file", PrevValue: "two"}, 101, "[two != one]", 4},
		{"set over dir", put("/dir", "x"), 102, "/dir", 4},
		{"set dir over dir", &Command{Method: MethodPut, Path: "/dir", Dir: true}, 102, "/dir", 4},
		{"cas on dir", &Command{Method: MethodPut, Path: "/dir", PrevValue: "x"}, 102, "/dir", 4},
		{"cad on dir", &Command{Method: MethodDelete, Path: "/dir", PrevIndex: 2}, 102, "/dir", 4},
		{"cad on root", &Command{Method: MethodDelete, Path: "/", PrevIndex: 2}, 102, "/", 4},
		{"delete dir without dir", &Command{Method: MethodDelete, Path: "/dir"}, 102, "/dir", 4},
		{"update dir value", &Command{Method: MethodPut, Path: "/dir", Value: "x", PrevExist: Bool(true)}, 102, "/dir", 4},
		{"file in path", put("/file/x/y", "v"), 104, "/file", 4},
		{"get under file", &Command{Method: MethodQuorumGet, Path: "/file/x/y"}, 104, "/file", 4},
		{"post to file", &Command{Method: MethodPost, Path: "/file"}, 104, "/file", 4},
		{"create existing", &Command{Method: MethodPut, Path: "/file", PrevExist: Bool(false)}, 105, "/file", 4},
		{"create existing dir", &Command{Method: MethodPut, Path: "/dir", Dir: true, PrevExist: Bool(false)}, 105, "/dir", 4},
		{"set root", put("/", "x"), 107, "/", 4},
		{"update root", &Command{Method: MethodPut, Path: "/", PrevExist: Bool(true)}, 107, "/", 4},
		{"cas root", &Command{Method: MethodPut, Path: "//", PrevValue: "x"}, 107, "/", 4},
		{"delete root", &Command{Method: MethodDelete, Path: "/", Recursive: true}, 107, "/", 4},
		{"delete non-empty dir", &Command{Method: MethodDelete, Path: "/dir", Dir: true}, 108, "/dir", 4},
		{"ttl too big", &Command{Method: MethodPut, Path: "/x", TTLSec: Uint64(MaxTTLSec + 1)}, 202, "", 0},
		{"bad method", &Command{Method: 99, Path: "/x"}, 209, "unknown method Method(99)", 0},
		{"refresh with value", &Command{Method: MethodPut, Path: "/file", Value: "v", Refresh: true, TTLSec: Uint64(5)}, 211, "A value was provided on a refresh", 0},
		{"refresh without ttl", &Command{Method: MethodPut, Path: "/file", Refresh: true}, 212, "No TTL value set", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{})
			for _, c := range setup {
				mustApply(t, s, c)
			}
			_, err := s.Apply(tc.cmd)
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("got %v, want error %d", err, tc.code)
			}
			if ke.Code != tc.code || ke.Cause != tc.cause || ke.Index != tc.index || ke.Message != errorMessages[tc.code] {
				t.Fatalf("got %+v, want code %d cause %q index %d", *ke, tc.code, tc.cause, tc.index)
			}
			if s.Index() != 4 {
				t.Fatalf("a failed command moved the index to %d", s.Index())
			}
		})
	}
}

// TestActionJSON pins the wire JSON of every action.
func TestActionJSON(t *testing.T) {
	t0 := int64(1_700_000_000) * sec
	steps := []struct {
		cmd  *Command
		want string
	}{
		{&Command{Method: MethodPut, Path: "/a", Value: "1", TimeUnixNano: t0},
			`{"action":"set","node":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}`},
		{&Command{Method: MethodPut, Path: "/a", Value: "2", TimeUnixNano: t0},
			`{"action":"set","node":{"key":"/a","value":"2","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}`},
		{&Command{Method: MethodPut, Path: "/a", Value: "3", PrevExist: Bool(true), TTLSec: Uint64(10), TimeUnixNano: t0 + sec/2},
			`{"action":"update","node":{"key":"/a","value":"3","expiration":"2023-11-14T22:13:30.5Z","ttl":10,"modifiedIndex":3,"createdIndex":2},"prevNode":{"key":"/a","value":"2","modifiedIndex":2,"createdIndex":2}}`},
		{&Command{Method: MethodPut, Path: "/a", Value: "4", PrevValue: "3", TimeUnixNano: t0 + sec},
			`{"action":"compareAndSwap","node":{"key":"/a","value":"4","modifiedIndex":4,"createdIndex":2},"prevNode":{"key":"/a","value":"3","expiration":"2023-11-14T22:13:30.5Z","ttl":10,"modifiedIndex":3,"createdIndex":2}}`},
		{&Command{Method: MethodPut, Path: "/d/e", Value: "", PrevExist: Bool(false), TimeUnixNano: t0 + sec},
			`{"action":"create","node":{"key":"/d/e","value":"","modifiedIndex":5,"createdIndex":5}}`},
		{&Command{Method: MethodPost, Path: "/q", Value: "job", TimeUnixNano: t0 + sec},
			`{"action":"create","node":{"key":"/q/00000000000000000006","value":"job","modifiedIndex":6,"createdIndex":6}}`},
		{&Command{Method: MethodPost, Path: "/q", Dir: true, TTLSec: Uint64(3), TimeUnixNano: t0 + sec},
			`{"action":"create","node":{"key":"/q/00000000000000000007","dir":true,"expiration":"2023-11-14T22:13:24Z","ttl":3,"modifiedIndex":7,"createdIndex":7}}`},
		{&Command{Method: MethodQuorumGet, Path: "/d", TimeUnixNano: t0 + sec},
			`{"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/e","value":"","modifiedIndex":5,"createdIndex":5}],"modifiedIndex":5,"createdIndex":5}}`},
		{&Command{Method: MethodDelete, Path: "/a", PrevIndex: 4, TimeUnixNano: t0 + sec},
			`{"action":"compareAndDelete","node":{"key":"/a","modifiedIndex":8,"createdIndex":2},"prevNode":{"key":"/a","value":"4","modifiedIndex":4,"createdIndex":2}}`},
		{&Command{Method: MethodDelete, Path: "/d", Recursive: true, TimeUnixNano: t0 + sec},
			`{"action":"delete","node":{"key":"/d","dir":true,"modifiedIndex":9,"createdIndex":5},"prevNode":{"key":"/d","dir":true,"modifiedIndex":5,"createdIndex":5}}`},
		{&Command{Method: MethodPut, Path: "/f", Dir: true, TimeUnixNano: t0 + sec},
			`{"action":"set","node":{"key":"/f","dir":true,"modifiedIndex":10,"createdIndex":10}}`},
		{&Command{Method: MethodDelete, Path: "/f", Dir: true, TimeUnixNano: t0 + sec},
			`{"action":"delete","node":{"key":"/f","dir":true,"modifiedIndex":11,"createdIndex":10},"prevNode":{"key":"/f","dir":true,"modifiedIndex":10,"createdIndex":10}}`},
		{&Command{Method: MethodQuorumGet, Path: "/", Recursive: true, TimeUnixNano: t0 + 2*sec + sec/3},
			`{"action":"get","node":{"dir":true,"nodes":[{"key":"/q","dir":true,"nodes":[{"key":"/q/00000000000000000006","value":"job","modifiedIndex":6,"createdIndex":6},{"key":"/q/00000000000000000007","dir":true,"expiration":"2023-11-14T22:13:24Z","ttl":2,"modifiedIndex":7,"createdIndex":7}],"modifiedIndex":6,"createdIndex":6}]}}`},
	}
	s := New(Options{})
	for i, st := range steps {
		ev := mustApply(t, s, st.cmd)
		if got := asJSON(t, ev); got != st.want {
			t.Fatalf("step %d:\n got  %s\n want %s", i, got, st.want)
		}
	}
	if s.Index() != 11 {
		t.Fatalf("index %d, want 11 (the quorum gets must not move it)", s.Index())
	}
	// Expiry: the TTL directory goes at t0+4s with one expire event.
	w, err := s.Watch("/q", true, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, &Command{Method: MethodSync, TimeUnixNano: t0 + 4*sec})
	ev := <-w.Events()
	want := `{"action":"expire","node":{"key":"/q/00000000000000000007","dir":true,"modifiedIndex":12,"createdIndex":7},"prevNode":{"key":"/q/00000000000000000007","dir":true,"expiration":"2023-11-14T22:13:24Z","modifiedIndex":7,"createdIndex":7}}`
	if got := asJSON(t, ev); got != want {
		t.Fatalf("expire:\n got  %s\n want %s", got, want)
	}
	if ev.Index != 12 || s.Index() != 12 {
		t.Fatalf("expire index %d, store %d; want 12", ev.Index, s.Index())
	}
	st := asJSON(t, s.Stats())
	wantStats := `{"getsSuccess":2,"getsFail":0,"setsSuccess":3,"setsFail":0,"deleteSuccess":2,"deleteFail":0,"updateSuccess":1,"updateFail":0,"createSuccess":3,"createFail":0,"compareAndSwapSuccess":1,"compareAndSwapFail":0,"compareAndDeleteSuccess":1,"compareAndDeleteFail":0,"expireCount":1,"watchers":0}`
	if st != wantStats {
		t.Fatalf("stats:\n got  %s\n want %s", st, wantStats)
	}
}

func TestSetReplacesFileWithDirAndResetsCreatedIndex(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, put("/k", "v"))
	ev := mustApply(t, s, &Command{Method: MethodPut, Path: "/k", Dir: true, Value: "ignored"})
	want := `{"action":"set","node":{"key":"/k","dir":true,"modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/k","value":"v","modifiedIndex":1,"createdIndex":1}}`
	if got := asJSON(t, ev); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestHiddenKeysLeftOutOfListings(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, put("/d/_hidden", "h"))
	mustApply(t, s, put("/d/shown", "s"))
	ev, err := s.Get("/d", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Node.Nodes) != 1 || ev.Node.Nodes[0].Key != "/d/shown" {
		t.Fatalf("listing %s", asJSON(t, ev))
	}
	if ev, err := s.Get("/d/_hidden", false, false); err != nil || *ev.Node.Value != "h" {
		t.Fatalf("a hidden key must be readable by name: %v %v", ev, err)
	}
	// A non-empty directory counts hidden children too.
	mustApply(t, s, &Command{Method: MethodDelete, Path: "/d/shown"})
	if _, err := s.Apply(&Command{Method: MethodDelete, Path: "/d", Dir: true}); err == nil || err.(*Error).Code != EcodeDirNotEmpty {
		t.Fatalf("deleting a dir holding only a hidden key: %v, want 108", err)
	}
}

func TestInOrderKeysAreZeroPaddedAndIncreasing(t *testing.T) {
	s := New(Options{})
	var last string
	for i := range 12 {
		mustApply(t, s, put("/other", "x")) // indexes advance between POSTs
		ev := mustApply(t, s, &Command{Method: MethodPost, Path: "/queue", Value: "job"})
		name := ev.Node.Key[len("/queue/"):]
		if len(name) != 20 || strings.Trim(name, "0123456789") != "" {
			t.Fatalf("in-order name %q is not 20 digits", name)
		}
		if i > 0 && name <= last {
			t.Fatalf("in-order name %q not after %q", name, last)
		}
		last = name
	}
	ev, _ := s.Get("/queue", false, false)
	for i := 1; i < len(ev.Node.Nodes); i++ {
		if ev.Node.Nodes[i-1].Key >= ev.Node.Nodes[i].Key {
			t.Fatalf("listing not in key order: %s", asJSON(t, ev))
		}
	}
}

func TestRefreshKeepsValueAndWakesNoWatcher(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, &Command{Method: MethodPut, Path: "/svc", Value: "addr", TTLSec: Uint64(5), TimeUnixNano: 10 * sec})
	w, err := s.Watch("/svc", false, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	ev := mustApply(t, s, &Command{Method: MethodPut, Path: "/svc", Refresh: true, TTLSec: Uint64(5), PrevExist: Bool(true), TimeUnixNano: 14 * sec})
	if *ev.Node.Value != "addr" || ev.Node.TTL != 5 || ev.Node.ModifiedIndex != 2 || ev.Node.CreatedIndex != 1 {
		t.Fatalf("refresh: %s", asJSON(t, ev))
	}
	// At 16s the key would have expired without the refresh (10+5).
	mustApply(t, s, put("/svc", "new")) // a real change: the watcher must see this one only
	got := <-w.Events()
	if got.Action != ActionSet || got.Index != 3 {
		t.Fatalf("watcher saw %s (index %d), want the set at 3", asJSON(t, got), got.Index)
	}
	// A waitIndex at the refresh's index skips it and finds the set.
	w2, err := s.Watch("/svc", false, false, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-w2.Events(); got.Index != 3 {
		t.Fatalf("history scan returned index %d, want 3 (refreshes are skipped)", got.Index)
	}
	w.Remove()
}

func TestTTLExpiresAtApplyTimeDeterministically(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, &Command{Method: MethodPut, Path: "/k", Value: "v", TTLSec: Uint64(2), TimeUnixNano: 100 * sec})
	// A proposer with a slow clock does not move time backwards.
	ev := mustApply(t, s, &Command{Method: MethodQuorumGet, Path: "/k", TimeUnixNano: 50 * sec})
	if ev.Node.TTL != 2 {
		t.Fatalf("ttl %d, want 2", ev.Node.TTL)
	}
	ev = mustApply(t, s, &Command{Method: MethodQuorumGet, Path: "/k", TimeUnixNano: 101*sec + 1})
	if ev.Node.TTL != 1 {
		t.Fatalf("ttl %d, want 1 (ceil of 0.999999999s)", ev.Node.TTL)
	}
	if _, err := s.Get("/k", false, false); err != nil {
		t.Fatalf("not yet expired: %v", err)
	}
	if _, err := s.Apply(&Command{Method: MethodQuorumGet, Path: "/k", TimeUnixNano: 102 * sec}); err == nil {
		t.Fatal("key alive at its expiration time")
	}
	if s.Index() != 2 || s.Stats().ExpireCount != 1 {
		t.Fatalf("index %d expireCount %d, want 2 and 1", s.Index(), s.Stats().ExpireCount)
	}
	if s.HasTTLs() {
		t.Fatal("HasTTLs after the only TTL key expired")
	}
}

func TestUpdateWithoutTTLMakesPermanent(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, &Command{Method: MethodPut, Path: "/k", Value: "v", TTLSec: Uint64(2), TimeUnixNano: sec})
	ev := mustApply(t, s, &Command{Method: MethodPut, Path: "/k", Value: "v2", PrevValue: "v", TimeUnixNano: sec})
	if ev.Node.Expiration != nil {
		t.Fatalf("CAS without ttl kept the TTL: %s", asJSON(t, ev))
	}
	mustApply(t, s, &Command{Method: MethodSync, TimeUnixNano: 100 * sec})
	if _, err := s.Get("/k", false, false); err != nil {
		t.Fatalf("permanent key expired: %v", err)
	}
}

func TestDirectoryTTLTakesChildren(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, &Command{Method: MethodPut, Path: "/d", Dir: true, TTLSec: Uint64(1), TimeUnixNano: sec})
	mustApply(t, s, &Command{Method: MethodPut, Path: "/d/x/y", Value: "v", TTLSec: Uint64(10), TimeUnixNano: sec})
	// Refresh the directory's TTL the v2 way: update with prevExist=true.
	ev := mustApply(t, s, &Command{Method: MethodPut, Path: "/d", Dir: true, PrevExist: Bool(true), TTLSec: Uint64(3), TimeUnixNano: sec})
	if ev.Action != ActionUpdate || !ev.Node.Dir || ev.Node.TTL != 3 {
		t.Fatalf("dir ttl update: %s", asJSON(t, ev))
	}
	g, _ := s.Get("/d", false, false)
	if g.Node.ModifiedIndex != 3 {
		t.Fatalf("dir modifiedIndex %d after update at 3", g.Node.ModifiedIndex)
	}
	mustApply(t, s, &Command{Method: MethodSync, TimeUnixNano: 4 * sec})
	if _, err := s.Get("/d/x/y", false, false); err == nil {
		t.Fatal("child of an expired directory survived")
	}
	if s.Index() != 4 || s.HasTTLs() {
		t.Fatalf("index %d HasTTLs %v: want one expiry and no TTLs left", s.Index(), s.HasTTLs())
	}
}

// TestLeaderChangeGrace: a TTL that fell due during an election gap gets
// the grace instead of expiring at the new leader's first entry.
func TestLeaderChangeGrace(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, &Command{Method: MethodPut, Path: "/lock", Value: "me", TTLSec: Uint64(5), TimeUnixNano: 100 * sec})
	mustApply(t, s, &Command{Method: MethodPut, Path: "/later", Value: "x", TTLSec: Uint64(60), TimeUnixNano: 100 * sec})
	// The new leader's term begins: the node core applies a grace marker
	// (no time: raft's empty entry carries none).
	mustApply(t, s, &Command{Method: MethodSync, GraceNs: 2 * sec})
	// Its first timed entry comes 10s later, past /lock's expiration.
	ev := mustApply(t, s, &Command{Method: MethodQuorumGet, Path: "/lock", TimeUnixNano: 110 * sec})
	if ev.Node.TTL != 2 || !ev.Node.Expiration.Equal(time.Unix(112, 0)) {
		t.Fatalf("grace: %s, want ttl 2 expiring at 112s", asJSON(t, ev))
	}
	if ev, _ := s.Get("/later", false, false); ev.Node.TTL != 50 {
		t.Fatalf("a TTL beyond the grace must be untouched: %s", asJSON(t, ev))
	}
	if s.Index() != 2 {
		t.Fatalf("the grace moved the index to %d", s.Index())
	}
	// The grace is used up: the key expires when its clock comes.
	if _, err := s.Apply(&Command{Method: MethodQuorumGet, Path: "/lock", TimeUnixNano: 112 * sec}); err == nil {
		t.Fatal("key alive after its grace")
	}
}

// TestCleanPathIsV2s holds cleanPath, which skips building "/"+p for a
// rooted p, to v2's definition on any string, and to the identity on clean
// paths (which it must return without copying them).
func TestCleanPathIsV2s(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.OneOf(rapid.String(), rapid.StringOf(rapid.SampledFrom([]rune{'/', '.', 'a', '_'}))).Draw(t, "p")
		if got, want := cleanPath(p), path.Clean(path.Join("/", p)); got != want {
			t.Fatalf("cleanPath(%q) = %q, want %q", p, got, want)
		}
	})
	for _, p := range []string{"/", "/a", "/a/b_c"} {
		if got := cleanPath(p); unsafe.StringData(got) != unsafe.StringData(p) {
			t.Errorf("cleanPath(%q) copied it", p)
		}
	}
}

func TestPathsAreCleaned(t *testing.T) {
	s := New(Options{})
	ev := mustApply(t, s, put("a//b/../c/", "v"))
	if ev.Node.Key != "/a/c" {
		t.Fatalf("key %q, want /a/c", ev.Node.Key)
	}
	if ev, err := s.Get("/a/./c", false, false); err != nil || ev.Node.Key != "/a/c" {
		t.Fatalf("get cleaned: %v %v", ev, err)
	}
	root, _ := s.Get("", false, false)
	if got := asJSON(t, root); got != `{"action":"get","node":{"dir":true,"nodes":[{"key":"/a","dir":true,"modifiedIndex":1,"createdIndex":1}]}}` {
		t.Fatalf("root: %s", got)
	}
}

func TestCommandEncodingRoundTrip(t *testing.T) {
	c := &Command{Method: MethodPut, Path: "/a", Value: "v", Dir: true, TTLSec: Uint64(0), PrevValue: "p", PrevIndex: 3,
		PrevExist: Bool(false), Refresh: true, Recursive: true, Sorted: true, TimeUnixNano: 123, GraceNs: 4}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if asJSON(t, d) != asJSON(t, c) || *d.TTLSec != 0 || *d.PrevExist {
		t.Fatalf("round trip: %+v != %+v", *d, *c)
	}
	if _, err := DecodeCommand(append(b, 0)); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := DecodeCommand(b[:len(b)-1]); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("truncated: %v", err)
	}
}
