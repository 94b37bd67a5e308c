// Package msgpbuf holds the byte-slice writer that the hand-written
// msgpack encoder of log (WAL records) gives to a msgpack.Encoder, so that
// it encodes straight into a slice it owns. (kv's command encoder, once a
// user too, now appends the bytes itself.)
//
// Such encoders are written by hand, field by field with the Encoder's
// primitives (EncodeArrayLen, EncodeMapLen, EncodeUint, EncodeUint8,
// EncodeUint64, EncodeInt64, EncodeBool, EncodeString, EncodeBytes)
// rather than by reflection, because they are on the hot path: every log
// entry is encoded by the leader and written to every WAL. Writing into a
// caller's slice, not a bytes.Buffer, lets log build a frame around the
// payload in place. Writer adds no bytes of its own: whatever it holds
// is what the Encoder wrote, the bytes vmihailenco/msgpack's Decoder reads
// back (the package test checks this on random values).
package msgpbuf

// Writer appends everything written to it to B. Writes cannot fail. Its
// WriteByte is what msgpack.Encoder writes a one-byte code with; without
// it the Encoder wraps the writer and hands Write a new one-byte slice
// each time, an allocation per code.
type Writer struct {
	B []byte
}

// Write appends p to B.
func (w *Writer) Write(p []byte) (int, error) {
	w.B = append(w.B, p...)
	return len(p), nil
}

// WriteByte appends c to B.
func (w *Writer) WriteByte(c byte) error {
	w.B = append(w.B, c)
	return nil
}
