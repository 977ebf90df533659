package graph

// IndentJSON appends src, compact JSON as encoding/json writes it, to dst
// indented as json.Indent(dst, src, "", indent) would: one value or key
// per line, ": " after keys, empty objects and arrays kept as {} and [].
// With inlineScalarArrays, arrays that hold only scalars stay on one line
// as they are in src (the portal file's rows read as one block each). It
// is a single pass without json.Indent's validating scanner, which is most
// of the cost of printing a large graph or portal.
func IndentJSON(dst, src []byte, indent string, inlineScalarArrays bool) []byte {
	return indentJSONAt(dst, src, indent, inlineScalarArrays, 0)
}

// indentJSONAt is IndentJSON for src that stands depth levels deep in the
// document being written (a part of a larger value).
func indentJSONAt(dst, src []byte, indent string, inlineScalarArrays bool, depth int) []byte {
	newline := func() {
		dst = append(dst, '\n')
		for range depth {
			dst = append(dst, indent...)
		}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			j := stringEnd(src, i)
			dst = append(dst, src[i:j]...)
			i = j - 1
		case '[':
			if inlineScalarArrays {
				if end := scalarArrayEnd(src, i); end > 0 {
					dst = append(dst, src[i:end]...)
					i = end - 1
					continue
				}
			}
			fallthrough
		case '{':
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, c, src[i+1])
				i++
				continue
			}
			dst = append(dst, c)
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// stringEnd returns the index after the string that starts at src[i].
func stringEnd(src []byte, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(src)
}

// scalarArrayEnd returns the index after the array at src[i] when it
// holds only scalars, else 0.
func scalarArrayEnd(src []byte, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '"':
			j = stringEnd(src, j) - 1
		case '[', '{':
			return 0
		case ']':
			return j + 1
		}
	}
	return 0
}
