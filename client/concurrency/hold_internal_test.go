package concurrency

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/clienttest"
)

// TestLockLostAtTheFront: a hold that ends (here: its deadline) after the
// read that found its key lowest must make Lock fail with the loss, not
// return nil with Done closed and Token 0.
func TestLockLostAtTheFront(t *testing.T) {
	srv := clienttest.NewServer()
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testHookFront = func(h *hold) { h.end(fmt.Errorf("%w (%s: by the test)", ErrLostTimeout, h.key)) }
	t.Cleanup(func() { testHookFront = nil })

	m := NewMutex(c, "/locks/front", time.Minute)
	err = m.Lock(ctx)
	if !errors.Is(err, ErrLostTimeout) {
		t.Fatalf("Lock = %v, want the loss (ErrLostTimeout); Token %d", err, m.Token())
	}
	if m.Token() != 0 {
		t.Errorf("Token = %d after a failed Lock", m.Token())
	}
	// The place in the queue was given up.
	if resp, err := c.Get(ctx, "/locks/front", &client.GetOptions{Quorum: true}); err != nil || len(resp.Node.Nodes) != 0 {
		t.Errorf("the directory after a failed Lock: %+v, %v", resp, err)
	}
	testHookFront = nil
	if err := m.Lock(ctx); err != nil || m.Token() == 0 || isDone(m.Done()) {
		t.Errorf("Lock again: %v, token %d", err, m.Token())
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
