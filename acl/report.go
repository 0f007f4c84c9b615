package acl

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report as aligned tables: one per path, the consumer
// hops then each target's hops, followed by the verdict and suggestions.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "from %s to endpoint %s (%s)\n", r.From, r.Endpoint, r.Service)
	if r.Live {
		fmt.Fprintln(ew, "live: the running instance's endpoint state, registered targets, health and port pools")
	}
	fmt.Fprintf(ew, "client ports %s, node ports %s\n", r.ClientPorts, r.NodePorts)
	st := &r.EndpointState
	fmt.Fprintf(ew, "%s: %s %s: %s\n", st.Hop, st.Place, st.Rule, st.Verdict)
	for _, p := range r.Paths {
		if p.Node == "" { // an AWS service's interface endpoint (S3): no NLB
			fmt.Fprintf(ew, "\npath: interface %s (%s): %s\n", p.Interface, p.AZ, word(p.Allowed))
		} else {
			fmt.Fprintf(ew, "\npath: interface %s (%s) -> node %s: %s\n", p.Interface, p.AZ, p.Node, word(p.Allowed))
		}
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  HOP\tINTERFACE/SUBNET\tRULE\tVERDICT")
		rows(tw, p.Consumer, "  ")
		for _, t := range p.Targets {
			fmt.Fprintf(tw, "  -- target %s (%s): %s\n", t.Target, targetFacts(&t), word(t.Allowed))
			if t.Note != "" {
				fmt.Fprintf(tw, "     note: %s\n", t.Note)
			}
			rows(tw, t.Hops, "    ")
		}
		tw.Flush()
		for _, n := range p.Notes {
			fmt.Fprintf(ew, "  note: %s\n", n)
		}
	}
	fmt.Fprintf(ew, "\nverdict: %s\n", strings.ToUpper(r.Verdict))
	for _, s := range r.Suggestions {
		fmt.Fprintf(ew, "suggestion: %s\n", s)
	}
	return ew.err
}

// targetFacts is the parenthesis after a target: AZ, check and live state.
func targetFacts(t *TargetReport) string {
	facts := []string{t.AZ, strings.ReplaceAll(t.Check, "_", " ")}
	if t.State != "" {
		facts = append(facts, t.State)
	}
	if t.NewFlows != nil && !*t.NewFlows {
		facts = append(facts, "no new flows")
	}
	if t.Picked {
		facts = append(facts, "picked for this client port")
	}
	if t.Ports != "" {
		facts = append(facts, "ports "+t.Ports)
	}
	return strings.Join(facts, ", ")
}

func rows(w io.Writer, hs []HopReport, indent string) {
	for _, h := range hs {
		v := h.Verdict.String()
		if h.Uncovered != "" {
			v += " (ports " + h.Uncovered + ")"
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\n", indent, h.Hop, dash(h.Place), h.Rule, v)
	}
}

func word(ok bool) string {
	if ok {
		return "allowed"
	}
	return "DENIED"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
