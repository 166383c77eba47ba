// Package docs_test checks the repository's Markdown documents: the README's size, and that every
// relative link stays inside the repository and names a file and heading that exist.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// maxReadmeBytes is the README's size limit (issue 21: about 10 KB).
const maxReadmeBytes = 10 * 1024

// pending lists link targets that another branch adds. A link to one is checked only once it exists.
var pending = map[string]bool{
	"docs/deployment.md": true,
}

// linkRE matches an inline Markdown link's target: [text](target).
var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// fenceRE matches a fenced code block, whose text is not Markdown.
var fenceRE = regexp.MustCompile("(?s)```.*?```")

// repoRoot is the repository's root, the parent of this package's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// documents returns the Markdown files the tests check, relative to the root.
func documents(t *testing.T, root string) []string {
	t.Helper()
	docs := []string{"README.md", "BENCHMARKS.md"}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, filepath.ToSlash(rel))
	}
	return docs
}

// anchor turns a heading into the fragment GitHub gives it.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the fragments of a Markdown text's headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(fenceRE.ReplaceAllString(text, ""), "\n") {
		if strings.HasPrefix(line, "#") {
			out[anchor(strings.TrimLeft(line, "#"))] = true
		}
	}
	return out
}

func TestDocuments(t *testing.T) {
	root := repoRoot(t)

	t.Run("ReadmeIsAtMostTenKilobytes", func(t *testing.T) {
		info, err := os.Stat(filepath.Join(root, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > maxReadmeBytes {
			t.Errorf("README.md is %d bytes; keep it under %d and move details to docs/", info.Size(), maxReadmeBytes)
		}
	})

	t.Run("LinksStayInsideTheRepositoryAndResolve", func(t *testing.T) {
		for _, doc := range documents(t, root) {
			raw, err := os.ReadFile(filepath.Join(root, doc))
			if err != nil {
				t.Fatal(err)
			}
			text := fenceRE.ReplaceAllString(string(raw), "")
			for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					t.Errorf("%s links outside the repository: %s", doc, target)
					continue
				}
				file, frag, _ := strings.Cut(target, "#")
				rel := doc
				if file != "" {
					rel = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(doc), file)))
				}
				if rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
					t.Errorf("%s links outside the repository: %s", doc, target)
					continue
				}
				body, err := os.ReadFile(filepath.Join(root, rel))
				if err != nil && pending[rel] {
					continue
				}
				if err != nil {
					t.Errorf("%s links to %s, which does not exist", doc, target)
					continue
				}
				if frag != "" && strings.HasSuffix(rel, ".md") && !anchors(string(body))[frag] {
					t.Errorf("%s links to %s, but %s has no heading #%s", doc, target, rel, frag)
				}
			}
		}
	})
}
