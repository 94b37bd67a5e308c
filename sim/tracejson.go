package sim

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
)

// appendJSON appends e as encoding/json writes it (an Encoder's Encode:
// the fields in order, empty ones left out, HTML-safe escapes, then a
// newline), without reflection: tracing costs a fifth of a live session's
// time in WebAssembly otherwise. TestTraceEventJSON holds the two equal,
// for every field. ok is false for what only encoding/json can say (a
// float that is not finite: an error).
func (e *TraceEvent) appendJSON(b []byte) (_ []byte, ok bool) {
	if !finite(e.T) || !finite(e.Ms) {
		return b, false
	}
	b = append(b, `{"t":`...)
	b = appendFloat(b, e.T)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = appendU(b, `,"id":`, e.ID)
	b = appendU(b, `,"mid":`, e.MsgID)
	b = appendU(b, `,"from":`, e.From)
	b = appendU(b, `,"to":`, e.To)
	b = appendS(b, `,"msg":`, e.Msg)
	b = appendU(b, `,"term":`, e.Term)
	b = appendU(b, `,"logTerm":`, e.LogTerm)
	b = appendU(b, `,"index":`, e.Index)
	b = appendI(b, `,"entries":`, int64(e.Entries))
	b = appendU(b, `,"commit":`, e.Commit)
	b = appendT(b, `,"reject":`, e.Reject)
	b = appendS(b, `,"reason":`, e.Reason)
	b = appendS(b, `,"role":`, e.Role)
	b = appendU(b, `,"lead":`, e.Lead)
	b = appendU(b, `,"vote":`, e.Vote)
	b = appendI(b, `,"count":`, int64(e.Count))
	b = appendI(b, `,"client":`, int64(e.Client))
	b = appendS(b, `,"op":`, e.Op)
	b = appendS(b, `,"key":`, e.Key)
	b = appendS(b, `,"value":`, e.Value)
	b = appendS(b, `,"prev":`, e.Prev)
	b = appendS(b, `,"result":`, e.Result)
	b = appendI(b, `,"attempt":`, int64(e.Attempt))
	if len(e.Groups) > 0 {
		b = append(b, `,"groups":[`...)
		for j, g := range e.Groups {
			if j > 0 {
				b = append(b, ',')
			}
			if g == nil {
				b = append(b, "null"...)
				continue
			}
			b = appendUints(b, g)
		}
		b = append(b, ']')
	}
	b = appendS(b, `,"kind":`, e.Kind)
	b = appendS(b, `,"phase":`, e.Phase)
	b = appendU(b, `,"match":`, e.Match)
	b = appendU(b, `,"next":`, e.Next)
	if len(e.Voters) > 0 {
		b = append(b, `,"voters":`...)
		b = appendUints(b, e.Voters)
	}
	if len(e.Learners) > 0 {
		b = append(b, `,"learners":`...)
		b = appendUints(b, e.Learners)
	}
	if len(e.KV) > 0 {
		b = append(b, `,"kv":{`...)
		for j, k := range slices.Sorted(maps.Keys(e.KV)) {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, e.KV[k])
		}
		b = append(b, '}')
	}
	if len(e.Log) > 0 {
		b = append(b, `,"log":[`...)
		for j, r := range e.Log {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendUints(b, r[:])
		}
		b = append(b, ']')
	}
	b = appendT(b, `,"both":`, e.Both)
	if e.Ms != 0 {
		b = append(b, `,"ms":`...)
		b = appendFloat(b, e.Ms)
	}
	if e.Quorum != nil {
		b = append(b, `,"quorum":`...)
		b = strconv.AppendBool(b, *e.Quorum)
	}
	b = appendI(b, `,"events":`, e.Events)
	if len(e.Cut) > 0 {
		b = append(b, `,"cut":[`...)
		for j, c := range e.Cut {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendUints(b, c[:])
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...), true
}

// appendU, appendI, appendS and appendT append a field of an unsigned,
// signed, string or boolean value, unless the value is empty (omitempty).
func appendU(b []byte, name string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendUint(append(b, name...), v, 10)
}

func appendI(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendInt(append(b, name...), v, 10)
}

func appendS(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(b, name...), v)
}

func appendT(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	return append(append(b, name...), "true"...)
}

func finite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }

// appendFloat formats f as encoding/json does a float64.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString quotes s as encoding/json does: a string of printable
// ASCII that needs no escape is copied; any other goes through
// encoding/json itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendUints(b []byte, v []uint64) []byte {
	b = append(b, '[')
	for j, x := range v {
		if j > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, x, 10)
	}
	return append(b, ']')
}
