package raft

import "fmt"

// EntryType distinguishes what an Entry's Data holds.
type EntryType uint8

const (
	// EntryNormal carries an opaque application command (or nothing: the
	// leader's no-op at the start of its term has empty Data).
	EntryNormal EntryType = iota
	// EntryConfChange carries an encoded ConfChange.
	EntryConfChange
)

func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "normal"
	case EntryConfChange:
		return "confchange"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one slot of the replicated log.
type Entry struct {
	Term  uint64    `msgpack:"t"`
	Index uint64    `msgpack:"i"`
	Type  EntryType `msgpack:"y,omitempty"`
	Data  []byte    `msgpack:"d,omitempty"`
}

// HardState is what a member must persist before it speaks (Figure 2,
// "Persistent state on all servers"): the current term, the vote cast in it,
// and the commit index (persisted so a restart does not re-apply from zero;
// the paper allows commit to be volatile, keeping it is an optimisation).
type HardState struct {
	Term   uint64 `msgpack:"t"`
	Vote   uint64 `msgpack:"v"`
	Commit uint64 `msgpack:"c"`
}

// IsEmpty reports whether h is the zero HardState.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// ConfState is the membership of the cluster: voters count toward quorums,
// learners receive the log but never vote and never count.
type ConfState struct {
	Voters   []uint64 `msgpack:"v"`
	Learners []uint64 `msgpack:"l,omitempty"`
}

// SnapshotMetadata names the log position a snapshot replaces and the
// membership in force at that position.
type SnapshotMetadata struct {
	Index     uint64    `msgpack:"i"`
	Term      uint64    `msgpack:"t"`
	ConfState ConfState `msgpack:"c"`
}

// Snapshot is a state-machine image covering the log up to Metadata.Index.
type Snapshot struct {
	Metadata SnapshotMetadata `msgpack:"m"`
	Data     []byte           `msgpack:"d,omitempty"`
}

// IsEmpty reports whether s holds no snapshot.
func (s Snapshot) IsEmpty() bool { return s.Metadata.Index == 0 }

// MessageType is the kind of a Message exchanged between members.
type MessageType uint8

const (
	MsgApp           MessageType = iota + 1 // AppendEntries request
	MsgAppResp                              // AppendEntries response
	MsgVote                                 // RequestVote request
	MsgVoteResp                             // RequestVote response
	MsgPreVote                              // Pre-Vote request (thesis §9.6)
	MsgPreVoteResp                          // Pre-Vote response
	MsgHeartbeat                            // empty AppendEntries carrying commit
	MsgHeartbeatResp                        // heartbeat response
	MsgSnap                                 // InstallSnapshot request
	MsgTimeoutNow                           // leadership transfer (thesis §3.10)
	MsgReadIndex                            // a follower's read, forwarded to the leader (thesis §6.4)
	MsgReadIndexResp                        // the leader's confirmed read index
	MsgSnapResp                             // a snapshot chunk acknowledged
)

var messageTypeNames = [...]string{
	MsgApp:           "MsgApp",
	MsgAppResp:       "MsgAppResp",
	MsgVote:          "MsgVote",
	MsgVoteResp:      "MsgVoteResp",
	MsgPreVote:       "MsgPreVote",
	MsgPreVoteResp:   "MsgPreVoteResp",
	MsgHeartbeat:     "MsgHeartbeat",
	MsgHeartbeatResp: "MsgHeartbeatResp",
	MsgSnap:          "MsgSnap",
	MsgTimeoutNow:    "MsgTimeoutNow",
	MsgReadIndex:     "MsgReadIndex",
	MsgReadIndexResp: "MsgReadIndexResp",
	MsgSnapResp:      "MsgSnapResp",
}

func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) && messageTypeNames[t] != "" {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// IsResponse reports whether t answers a request.
func (t MessageType) IsResponse() bool {
	switch t {
	case MsgAppResp, MsgVoteResp, MsgPreVoteResp, MsgHeartbeatResp, MsgReadIndexResp, MsgSnapResp:
		return true
	}
	return false
}

// Message is the unit of communication between members. Which fields are
// meaningful depends on Type:
//
//   - MsgApp: Index/LogTerm name the entry preceding Entries (prevLogIndex,
//     prevLogTerm), Commit is the leader's commit index.
//   - MsgAppResp: Index is the highest index known to match on success; on
//     Reject, Index echoes the rejected prevLogIndex and RejectHint/LogTerm
//     carry the follower's conflict hint (fast backtracking).
//   - MsgVote/MsgPreVote: Index/LogTerm describe the candidate's last entry.
//     A pre-vote is sent with the term the candidate would campaign in.
//   - MsgHeartbeat: Commit is min(leader commit, follower match).
//   - MsgSnap: one chunk of InstallSnapshot (thesis §5.3): Snapshot carries
//     the metadata and the bytes [SnapOffset, SnapOffset+len(Data)) of a
//     snapshot of SnapTotal bytes. MsgSnapResp acknowledges with Index (the
//     snapshot's index) and SnapOffset (the bytes the follower holds, the
//     next chunk it wants); Reject asks the leader to resend from there.
//     The last chunk installs the snapshot and is answered by MsgAppResp.
//   - MsgHeartbeat/MsgHeartbeatResp: Context, when set, names the ReadIndex
//     round the heartbeat confirms; the response echoes it.
//   - MsgReadIndex: Context is the caller's request id. MsgReadIndexResp
//     echoes it with Index, the read index the leader confirmed.
type Message struct {
	Type       MessageType `msgpack:"y"`
	To         uint64      `msgpack:"to"`
	From       uint64      `msgpack:"fr"`
	Term       uint64      `msgpack:"t"`
	LogTerm    uint64      `msgpack:"lt,omitempty"`
	Index      uint64      `msgpack:"i,omitempty"`
	Entries    []Entry     `msgpack:"e,omitempty"`
	Commit     uint64      `msgpack:"c,omitempty"`
	Reject     bool        `msgpack:"r,omitempty"`
	RejectHint uint64      `msgpack:"rh,omitempty"`
	Snapshot   *Snapshot   `msgpack:"s,omitempty"`
	SnapOffset uint64      `msgpack:"so,omitempty"`
	SnapTotal  uint64      `msgpack:"st,omitempty"`
	Context    []byte      `msgpack:"x,omitempty"`
}

func (m Message) String() string {
	s := fmt.Sprintf("%d->%d %s term=%d", m.From, m.To, m.Type, m.Term)
	switch m.Type {
	case MsgApp:
		s += fmt.Sprintf(" prev=%d/%d commit=%d entries=%d", m.Index, m.LogTerm, m.Commit, len(m.Entries))
	case MsgAppResp:
		s += fmt.Sprintf(" index=%d", m.Index)
		if m.Reject {
			s += fmt.Sprintf(" reject hint=%d/%d", m.RejectHint, m.LogTerm)
		}
	case MsgVote, MsgPreVote:
		s += fmt.Sprintf(" last=%d/%d", m.Index, m.LogTerm)
	case MsgVoteResp, MsgPreVoteResp:
		if m.Reject {
			s += " rejected"
		} else {
			s += " granted"
		}
	case MsgHeartbeat:
		s += fmt.Sprintf(" commit=%d", m.Commit)
	case MsgReadIndexResp:
		s += fmt.Sprintf(" index=%d", m.Index)
	case MsgSnap:
		if m.Snapshot != nil {
			s += fmt.Sprintf(" snap=%d/%d bytes=%d+%d/%d", m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term,
				m.SnapOffset, len(m.Snapshot.Data), m.SnapTotal)
		}
	case MsgSnapResp:
		s += fmt.Sprintf(" snap=%d have=%d", m.Index, m.SnapOffset)
		if m.Reject {
			s += " reject"
		}
	}
	return s
}
