package clienttest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMalformedFormRefused: the request log must not hide a malformed form
// from the member, which answers it with error 210 as raftkv does.
func TestMalformedFormRefused(t *testing.T) {
	s := NewServer()
	defer s.Close()
	req, _ := http.NewRequest(http.MethodPut, s.URL+"/v2/keys/a", strings.NewReader("value=%zz"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ ErrorCode int }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusBadRequest || body.ErrorCode != 210 {
		t.Fatalf("malformed form: %s, errorCode %d; want 400 and 210", resp.Status, body.ErrorCode)
	}
	if _, err := s.Member().Store().Get("/a", false, false); err == nil {
		t.Fatal("the malformed write created /a")
	}
}

// TestWatchCountedAsTheMemberParses: wait=1 is a watch (ParseBool), and
// Close ends it at once rather than waiting for the server's shutdown.
func TestWatchCountedAsTheMemberParses(t *testing.T) {
	s := NewServer()
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.URL + "/v2/keys/w?wait=1")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.AwaitWatchers(ctx, 1); err != nil {
		t.Fatalf("a wait=1 watch was not counted: %v", err)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v with a watch open", d)
	}
	<-done
}
