package log

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// TestAppendFramePartsIsAppendFrameOfTheJoinedParts checks AppendFrameParts
// against AppendFrame of the parts joined (the model), after any prefix.
func TestAppendFramePartsIsAppendFrameOfTheJoinedParts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		prefix := make([]byte, FrameAlign*rapid.IntRange(0, 3).Draw(t, "prefixFrames"))
		typ := RecordType(rapid.IntRange(1, 5).Draw(t, "type"))
		parts := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 40), 0, 4).Draw(t, "parts")
		want := AppendFrame(bytes.Clone(prefix), typ, bytes.Join(parts, nil))
		got := AppendFrameParts(bytes.Clone(prefix), typ, parts...)
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendFrameParts:\n got %x\nwant %x", got, want)
		}
	})
}

// TestFramePartsWrittenInTurnIsAppendFrameParts checks that FrameParts's
// head, the parts and its pad, joined, are AppendFrameParts's frame.
func TestFramePartsWrittenInTurnIsAppendFrameParts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		typ := RecordType(rapid.IntRange(1, 5).Draw(t, "type"))
		parts := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 40), 0, 4).Draw(t, "parts")
		head, pad := FrameParts(typ, parts...)
		got := bytes.Join(append(append([][]byte{head}, parts...), pad), nil)
		if want := AppendFrameParts(nil, typ, parts...); !bytes.Equal(got, want) {
			t.Fatalf("FrameParts written in turn:\n got %x\nwant %x", got, want)
		}
	})
}
