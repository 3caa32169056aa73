package bench

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"strings"
)

// font3x5 is a 3×5 bitmap font (upper case, digits, a little punctuation):
// the standard library has no font, and the chart needs no more.
var font3x5 = map[rune][5]string{
	'0': {"###", "#.#", "#.#", "#.#", "###"}, '1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"}, '3': {"###", "..#", ".##", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"}, '5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"}, '7': {"###", "..#", ".#.", ".#.", ".#."},
	'8': {"###", "#.#", "###", "#.#", "###"}, '9': {"###", "#.#", "###", "..#", "###"},
	'A': {".#.", "#.#", "###", "#.#", "#.#"}, 'B': {"##.", "#.#", "##.", "#.#", "##."},
	'C': {".##", "#..", "#..", "#..", ".##"}, 'D': {"##.", "#.#", "#.#", "#.#", "##."},
	'E': {"###", "#..", "##.", "#..", "###"}, 'F': {"###", "#..", "##.", "#..", "#.."},
	'G': {".##", "#..", "#.#", "#.#", ".##"}, 'H': {"#.#", "#.#", "###", "#.#", "#.#"},
	'I': {"###", ".#.", ".#.", ".#.", "###"}, 'J': {"..#", "..#", "..#", "#.#", ".#."},
	'K': {"#.#", "#.#", "##.", "#.#", "#.#"}, 'L': {"#..", "#..", "#..", "#..", "###"},
	'M': {"#.#", "###", "###", "#.#", "#.#"}, 'N': {"##.", "#.#", "#.#", "#.#", "#.#"},
	'O': {".#.", "#.#", "#.#", "#.#", ".#."}, 'P': {"##.", "#.#", "##.", "#..", "#.."},
	'Q': {".#.", "#.#", "#.#", "##.", ".##"}, 'R': {"##.", "#.#", "##.", "#.#", "#.#"},
	'S': {".##", "#..", ".#.", "..#", "##."}, 'T': {"###", ".#.", ".#.", ".#.", ".#."},
	'U': {"#.#", "#.#", "#.#", "#.#", "###"}, 'V': {"#.#", "#.#", "#.#", "#.#", ".#."},
	'W': {"#.#", "#.#", "###", "###", "#.#"}, 'X': {"#.#", "#.#", ".#.", "#.#", "#.#"},
	'Y': {"#.#", "#.#", ".#.", ".#.", ".#."}, 'Z': {"###", "..#", ".#.", "#..", "###"},
	' ': {"...", "...", "...", "...", "..."}, '.': {"...", "...", "...", "...", ".#."},
	'-': {"...", "...", "###", "...", "..."}, '/': {"..#", "..#", ".#.", "#..", "#.."},
	'(': {".#.", "#..", "#..", "#..", ".#."}, ')': {".#.", "..#", "..#", "..#", ".#."},
	'%': {"#.#", "..#", ".#.", "#..", "#.#"}, '+': {"...", ".#.", "###", ".#.", "..."},
	':': {"...", ".#.", "...", ".#.", "..."}, '=': {"...", "###", "...", "###", "..."},
	'>': {"#..", ".#.", "..#", ".#.", "#.."}, '<': {"..#", ".#.", "#..", ".#.", "..#"},
}

const fontScale = 2

type canvas struct{ *image.RGBA }

func (c canvas) rect(x0, y0, x1, y1 int, col color.Color) {
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			c.Set(x, y, col)
		}
	}
}

// text draws s upper-cased at (x, y) (top left); unknown runes are blanks.
func (c canvas) text(x, y int, s string, col color.Color) {
	for _, r := range strings.ToUpper(s) {
		g, ok := font3x5[r]
		if ok {
			for row, line := range g {
				for k, px := range line {
					if px == '#' {
						c.rect(x+k*fontScale, y+row*fontScale, x+(k+1)*fontScale, y+(row+1)*fontScale, col)
					}
				}
			}
		}
		x += 4 * fontScale
	}
}

func textWidth(s string) int { return len([]rune(s)) * 4 * fontScale }

// WriteChart draws a horizontal bar chart of how many times better laurel
// is than Daphne on each headline figure, on a log scale (1× to 10,000×),
// as PNG. Figures without a ratio (missing, or zero on both sides) are left
// out; a figure where laurel is worse gets a red bar to the left of 1×.
func WriteChart(w io.Writer, pairs []Pair) error {
	type bar struct {
		label string
		ratio float64
	}
	var bars []bar
	for _, p := range pairs {
		for _, h := range Headlines[Kind(p.Scenario)] {
			if x := p.Ratio(h); x > 0 {
				bars = append(bars, bar{fmt.Sprintf("%s %s", p.Scenario, h.Label), x})
			}
		}
	}
	const (
		barH, gap, top, right = 18, 8, 50, 120
		decades               = 4
	)
	labelW := 0
	for _, b := range bars {
		labelW = max(labelW, textWidth(b.label))
	}
	left := labelW + 20
	plotW := 640
	width := left + plotW + right
	height := top + len(bars)*(barH+gap) + 40
	c := canvas{image.NewRGBA(image.Rect(0, 0, width, height))}
	white := color.RGBA{255, 255, 255, 255}
	black := color.RGBA{20, 20, 20, 255}
	grey := color.RGBA{200, 200, 200, 255}
	green := color.RGBA{46, 139, 87, 255}
	red := color.RGBA{200, 60, 60, 255}
	c.rect(0, 0, width, height, white)
	c.text(10, 10, "LAUREL VS DAPHNE: TIMES BETTER (LOG SCALE)", black)
	// x = left + plotW * log10(ratio)/decades; ratios below 1 extend left of 1x.
	unit := plotW / decades
	for d := 0; d <= decades; d++ {
		x := left + d*unit
		c.rect(x, top-6, x+1, height-30, grey)
		c.text(x-8, height-24, fmt.Sprintf("%gX", math.Pow(10, float64(d))), black)
	}
	for i, b := range bars {
		y := top + i*(barH+gap)
		c.text(left-10-textWidth(b.label), y+4, b.label, black)
		lg := math.Log10(b.ratio)
		lg = math.Max(math.Min(lg, decades+0.4), -0.9)
		x := int(float64(unit) * lg)
		col := green
		x0, x1 := left, left+x
		if x < 0 {
			col, x0, x1 = red, left+x, left
		}
		c.rect(x0, y, max(x1, x0+1), y+barH, col)
		c.text(max(x1, left)+6, y+4, fmt.Sprintf("%.1fX", b.ratio), black)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, c); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteChartFile writes WriteChart's PNG to path.
func WriteChartFile(path string, pairs []Pair) error {
	f, err := os.Create(path) //nolint:gosec // a report file the user names
	if err != nil {
		return err
	}
	if err := WriteChart(f, pairs); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
