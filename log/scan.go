package log

import (
	"errors"
	"fmt"
)

// sectorSize is the unit in which disks write; a torn write leaves whole
// sectors of zeros, never a few zero bytes in the middle of a sector.
const sectorSize = 512

// scanFrames walks the frames of one segment's bytes, calling fn for each
// good frame with its offset. It returns the offset just past the last good
// frame. If that is short of len(data), the rest is either a torn tail —
// only possible when last is true; the error is then nil and the caller
// cuts the tail — or corruption, reported as a *CorruptError (with an empty
// File, for the caller to fill in). An error from fn stops the scan and is
// returned as a *CorruptError at that frame's offset.
//
// A tail starting at offset off is torn when no valid frame starts at any
// aligned offset after off (so no record that follows is lost) and either:
//   - the frame at off is short (the file ends inside it), or
//   - the length word is zero and every byte from off on is zero, or
//   - the frame's CRC fails and the bytes from a sector boundary inside the
//     frame to the end of the file are all zero (the file grew, the data did
//     not land).
//
// Anything else — a zeroed record followed by more records, a flipped bit,
// an unknown type — is corruption.
func scanFrames(data []byte, last bool, fn func(off int, typ RecordType, payload []byte) error) (int, error) {
	off := 0
	for off < len(data) {
		typ, payload, n, err := DecodeFrame(data[off:])
		if err != nil {
			if last && tornTail(data, off, err) {
				return off, nil
			}
			return off, &CorruptError{Offset: int64(off), Err: err}
		}
		if err := fn(off, typ, payload); err != nil {
			return off, &CorruptError{Offset: int64(off), Err: err}
		}
		off += n
	}
	return off, nil
}

// tornTail reports whether the failure err of the frame at off is a torn
// write at the end of the segment (see scanFrames).
func tornTail(data []byte, off int, err error) bool {
	for p := off + FrameAlign; p+FrameHeaderSize <= len(data); p += FrameAlign {
		if _, _, _, err := DecodeFrame(data[p:]); err == nil {
			return false
		}
	}
	zeroFrom := len(data) // data[zeroFrom:] is all zero
	for zeroFrom > off && data[zeroFrom-1] == 0 {
		zeroFrom--
	}
	switch {
	case errors.Is(err, ErrShortFrame):
		return true
	case errors.Is(err, ErrZeroLength):
		return zeroFrom == off
	case errors.Is(err, ErrBadCRC):
		l := int(uint32(data[off]) | uint32(data[off+1])<<8 | uint32(data[off+2])<<16 | uint32(data[off+3])<<24)
		end := off + FrameHeaderSize + l
		sector := (max(zeroFrom, off+1) + sectorSize - 1) / sectorSize * sectorSize
		return sector < end
	}
	return false
}

// CorruptError reports a bad record in the WAL: the file, the byte offset of
// the frame, and what is wrong with it. errors.Is(err, ErrCorrupt) holds.
type CorruptError struct {
	File   string
	Offset int64
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt record in %s at offset %d: %v", e.File, e.Offset, e.Err)
}

func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }
