package kickstart

import (
	"errors"
	"slices"
	"strings"
)

// errNoClosingQuote is what splitArgs reports for an unbalanced quote;
// pykickstart (shlex) rejects such a line the same way.
var errNoClosingQuote = errors.New("no closing quotation")

// splitArgs splits a kickstart line the way pykickstart does (shlex in
// POSIX mode): words separated by blanks, single quotes literal, double
// quotes honouring backslash before \ " $ and `, a backslash outside quotes
// escaping the next character, and a # that starts a word starting a
// comment. It never returns an empty slice without an error for a line
// holding something other than blanks and a comment.
func splitArgs(line string) ([]string, error) {
	var (
		out     []string
		cur     strings.Builder
		inWord  bool
		quote   byte // 0, '\'' or '"'
		escaped bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(line) && strings.IndexByte("\\\"$`", line[i+1]) >= 0:
				i++
				cur.WriteByte(line[i])
			default:
				cur.WriteByte(c)
			}
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			i = len(line)
		case c == '\\':
			inWord, escaped = true, true
		case c == '\'' || c == '"':
			inWord, quote = true, c
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if quote != 0 || escaped {
		return nil, errNoClosingQuote
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// sortProblems orders problems by line, keeping the order of finding
// within a line, and drops exact duplicates.
func sortProblems(ps []Problem) []Problem {
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
	return slices.Compact(ps)
}
