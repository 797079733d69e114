package lessons

import (
	"bytes"
	"fmt"
	"html"
	"math"
)

// The drop-off chart, drawn on the server as SVG so that it is the same in the analytics page, in a
// report, or opened on its own: a step area of how many students reached each minute, with axes
// labelled in minutes and viewers.

// Chart geometry, in SVG user units (the chart scales with its box).
const (
	svgW, svgH                    = 800, 360
	padL, padR, padTop, padBottom = 64, 24, 56, 56
)

// niceStep returns a step of 1, 2 or 5 × 10^k that divides span into at most n intervals.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// dropoffSVG draws d with a title. Every piece of text is escaped.
func dropoffSVG(d Dropoff, title string) []byte {
	var b bytes.Buffer
	esc := html.EscapeString
	plotW, plotH := float64(svgW-padL-padR), float64(svgH-padTop-padBottom)
	n := len(d.Minutes)
	top := 1
	for _, c := range d.Minutes {
		top = max(top, c)
	}
	yStep := max(1, niceStep(float64(top), 5))
	yMax := math.Ceil(float64(top)/yStep) * yStep
	xMax := max(d.Duration/60, 1) // minutes
	x := func(min float64) float64 { return padL + min/xMax*plotW }
	y := func(v float64) float64 { return padTop + plotH - v/yMax*plotH }

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, svgW, svgH, svgW, svgH, esc(title))
	b.WriteString(`<style>text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:#1f2933}` +
		`.t{font-size:18px;font-weight:600}.s{font-size:13px;fill:#52606d}.a{font-size:12px;fill:#52606d}` +
		`.g{stroke:#e4e7eb;stroke-width:1}.x{stroke:#9aa5b1;stroke-width:1}</style>`)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`, svgW, svgH)
	fmt.Fprintf(&b, `<text class="t" x="%d" y="26">%s</text>`, padL, esc(title))
	fmt.Fprintf(&b, `<text class="s" x="%d" y="44">%d %s · %s</text>`, padL, d.Viewers, plural(d.Viewers, "student watched", "students watched"), esc(clock(d.Duration)))

	// Horizontal grid lines and the viewers axis.
	for v := 0.0; v <= yMax+1e-9; v += yStep {
		fmt.Fprintf(&b, `<line class="g" x1="%d" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padL, x(xMax), y(v), y(v))
		fmt.Fprintf(&b, `<text class="a" x="%d" y="%.1f" text-anchor="end">%g</text>`, padL-8, y(v)+4, v)
	}
	fmt.Fprintf(&b, `<text class="a" transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">viewers</text>`, padTop+plotH/2)

	// The step area: minute m spans [m, m+1) (the last one to the lesson's end).
	if n > 0 {
		var p bytes.Buffer
		fmt.Fprintf(&p, "M%.1f %.1f", x(0), y(0))
		for m, c := range d.Minutes {
			end := min(float64(m+1), xMax)
			fmt.Fprintf(&p, " L%.1f %.1f L%.1f %.1f", x(float64(m)), y(float64(c)), x(end), y(float64(c)))
		}
		fmt.Fprintf(&p, " L%.1f %.1f Z", x(xMax), y(0))
		fmt.Fprintf(&b, `<path d="%s" fill="#3b82f6" fill-opacity="0.25" stroke="#2563eb" stroke-width="2" stroke-linejoin="round"/>`, p.String())
	}

	// The minutes axis.
	fmt.Fprintf(&b, `<line class="x" x1="%d" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padL, x(xMax), y(0), y(0))
	xStep := max(1, niceStep(xMax, 10))
	for m := 0.0; m <= xMax+1e-9; m += xStep {
		fmt.Fprintf(&b, `<line class="x" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x(m), x(m), y(0), y(0)+5)
		fmt.Fprintf(&b, `<text class="a" x="%.1f" y="%.1f" text-anchor="middle">%g</text>`, x(m), y(0)+20, m)
	}
	fmt.Fprintf(&b, `<text class="a" x="%.1f" y="%d" text-anchor="middle">minute of the lesson</text>`, padL+plotW/2, svgH-10)
	if d.Viewers == 0 {
		fmt.Fprintf(&b, `<text class="s" x="%.1f" y="%.1f" text-anchor="middle">No student has watched this lesson yet</text>`, padL+plotW/2, padTop+plotH/2)
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// clock formats seconds as h:mm:ss or m:ss.
func clock(sec float64) string {
	s := int(math.Round(sec))
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
