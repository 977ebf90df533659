package compiler

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// jsonScan walks JSON in one pass for the schema checker and the CRM
// permission decoder. Methods return false on anything unexpected (and
// set err where a reason helps); callers then fall back to the slow,
// exact path, so the scanner never decides what a document means.
type jsonScan struct {
	b   []byte
	i   int
	err error
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end).
func (s *jsonScan) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScan) expect(ch byte) bool {
	if s.peek() == ch {
		s.i++
		return true
	}
	s.err = fmt.Errorf("expected %q at %d", ch, s.i)
	return false
}

// null consumes a null if one comes next.
func (s *jsonScan) null() bool {
	if s.peek() == 'n' && len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// members calls f for each member of an object, with the scanner at the
// member's value; f must consume it and may stop the walk with false.
func (s *jsonScan) members(f func(key string) bool) bool {
	if !s.expect('{') {
		return false
	}
	for first := true; ; first = false {
		if s.peek() == '}' {
			s.i++
			return true
		}
		if !first && !s.expect(',') {
			return false
		}
		s.space()
		k, ok := s.str()
		if !ok || !s.expect(':') || !f(k) {
			return false
		}
	}
}

// elements calls f for each element of a list, with the scanner at the
// element; f must consume it and may stop the walk with false.
func (s *jsonScan) elements(f func() bool) bool {
	if !s.expect('[') {
		return false
	}
	for first := true; ; first = false {
		if s.peek() == ']' {
			s.i++
			return true
		}
		if !first && !s.expect(',') {
			return false
		}
		if !f() {
			return false
		}
	}
}

// str reads a string (with escapes, by encoding/json's rules).
func (s *jsonScan) str() (string, bool) {
	if s.peek() != '"' {
		s.err = fmt.Errorf("expected a string at %d", s.i)
		return "", false
	}
	start := s.i
	escaped := false
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			escaped = true
			s.i++
		case '"':
			s.i++
			if !utf8.Valid(s.b[start+1 : s.i-1]) {
				s.err = fmt.Errorf("invalid UTF-8 in a string at %d", start)
				return "", false
			}
			if !escaped {
				return string(s.b[start+1 : s.i-1]), true
			}
			var u string
			if err := json.Unmarshal(s.b[start:s.i], &u); err != nil {
				s.err = err
				return "", false
			}
			return u, true
		}
	}
	s.err = fmt.Errorf("unterminated string")
	return "", false
}

// skipScalar skips a string, number, true, false or null.
func (s *jsonScan) skipScalar() bool {
	switch s.peek() {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[', 0:
		return false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return s.i > start
		}
		s.i++
	}
	return s.i > start
}

// skipValue skips any value.
func (s *jsonScan) skipValue() bool {
	switch s.peek() {
	case '{':
		return s.members(func(string) bool { return s.skipValue() })
	case '[':
		return s.elements(s.skipValue)
	}
	return s.skipScalar()
}

// scalarList skips a list whose elements are all scalars and reports
// whether it was one; on false the position is undefined.
func (s *jsonScan) scalarList() bool {
	return s.elements(s.skipScalar)
}
