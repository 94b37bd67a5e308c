package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// TestServeAfterPublish: a member answers clients only once its client
// URLs are in the replicated member records, so the first answer of every
// member already finds itself published, and once every member has
// answered, each lists every member's client URLs (what cluster-health
// needs right after a cluster comes up).
func TestServeAfterPublish(t *testing.T) {
	c := startInproc(t, 3)
	// No waiting for a leader: the requests go out at once, and wait in
	// the listeners' backlogs until their member publishes.
	for _, m := range c.members {
		resp, body := do(t, http.MethodGet, c.url(m)+"/version", nil)
		select {
		case <-m.Published():
		default:
			t.Errorf("%s answered (%s %s) before publishing its client URLs", m.cfg.Name, resp.Status, body)
		}
		if r := readMembers(m.Store())[m.ID()]; r == nil || !slices.Equal(r.ClientURLs, m.cfg.AdvertiseClientURLs) {
			t.Errorf("%s answers, but its own record is %+v", m.cfg.Name, r)
		}
	}
	for _, m := range c.members {
		resp, body := do(t, http.MethodGet, c.url(m)+"/v2/members", nil)
		var list struct {
			Members []MemberInfo `json:"members"`
		}
		if err := json.Unmarshal([]byte(body), &list); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/v2/members on %s: %s %s", m.cfg.Name, resp.Status, body)
		}
		for _, o := range c.members {
			i := slices.IndexFunc(list.Members, func(mi MemberInfo) bool { return mi.ID == o.ID() })
			if i < 0 || !slices.Equal(list.Members[i].ClientURLs, o.cfg.AdvertiseClientURLs) || list.Members[i].Name != o.cfg.Name {
				t.Errorf("/v2/members on %s lists %s as %+v; want its name and client URLs", m.cfg.Name, o.cfg.Name, list.Members)
			}
		}
	}
}
