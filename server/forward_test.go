package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
)

// The forwarding protocol between real members: answers for the leader's
// result, its store errors, and a member that does not lead.
func TestForwardProtocol(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	var fs []*Member
	for _, m := range c.members {
		if m != lead {
			fs = append(fs, m)
		}
	}
	f1, f2 := fs[0], fs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A follower publishes its attributes through a forward of its own;
	// once every member has, the only forwards are the test's.
	for _, m := range c.members {
		select {
		case <-m.Published():
		case <-ctx.Done():
			t.Fatalf("member %s did not publish its attributes", IDString(m.id))
		}
	}

	put := &kv.Command{Method: kv.MethodPut, Path: "/fwd", Value: "one", PrevExist: kv.Bool(false)}
	res, err := f1.forward(ctx, lead.id, proposal{cmd: put})
	if err != nil || res.Err != nil {
		t.Fatalf("forwarded create: %v / %v", err, res.Err)
	}
	if res.Event == nil || res.Event.Action != kv.ActionCreate || res.Event.Node.Value == nil || *res.Event.Node.Value != "one" || res.Index == 0 {
		t.Fatalf("forwarded create answered %+v", res)
	}

	// The same create again fails in the store: the leader's error comes
	// back as a kv error, with the index it applied at.
	res, err = f1.forward(ctx, lead.id, proposal{cmd: put})
	var ke *kv.Error
	if err != nil || !errors.As(res.Err, &ke) || ke.Code != kv.EcodeNodeExist || res.Index == 0 {
		t.Fatalf("second create: err %v, result %+v", err, res)
	}

	// forward sends only to the member it sees lead...
	if _, err := f1.forward(ctx, f2.id, proposal{cmd: put}); !errors.Is(err, errLeaderChanged) {
		t.Fatalf("forward to a follower: %v, want errLeaderChanged", err)
	}
	// ...but leadership can move while a request is on its way: a member
	// that does not lead proposes nothing and answers so.
	id, ch := f1.forwards.add()
	p, err := proposal{cmd: put}.encoded()
	if err != nil {
		t.Fatal(err)
	}
	f2.serveForward(f1.id, id, p)
	select {
	case out := <-ch:
		if !out.NotLeader || out.Event != nil || out.Index != 0 {
			t.Fatalf("a follower answered %+v, want NotLeader only", out)
		}
	case <-ctx.Done():
		t.Fatal("no answer from the follower")
	}
	// No stream to an unknown member: refused at once.
	if _, err := f1.forward(ctx, 12345, proposal{cmd: put}); err == nil {
		t.Fatal("forward to an unknown member succeeded")
	}
	f1.forwards.mu.Lock()
	left := len(f1.forwards.waiting)
	f1.forwards.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d forwards still waiting after their answers", left)
	}
}
