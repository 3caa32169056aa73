package consumer

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Server's Prometheus collectors. Labels are low-cardinality
// only: never a user, group or channel name.
type metrics struct {
	socketsOpen   prometheus.Gauge
	socketsMax    prometheus.Gauge // Config.MaxSockets; 0: no cap
	sharedGroups  prometheus.Gauge
	handshakes    *prometheus.CounterVec
	accepted      prometheus.Counter // handshakes{result="accepted",reason="ok"}
	fromLayer     prometheus.Counter
	delivered     prometheus.Counter
	drops         *prometheus.CounterVec
	latency       prometheus.Histogram
	errorFrames   *prometheus.CounterVec
	closes        *prometheus.CounterVec
	clientActions *prometheus.CounterVec
	actionOK      lazyCounter // clientActions{result="ok"}
	actionError   lazyCounter // clientActions{result="error"}

	// drop holds the drops counter of each reason, resolved once so that
	// the delivery path does no label lookup.
	drop map[string]prometheus.Counter
}

func (m *metrics) dropped(reason string) prometheus.Counter { return m.drop[reason] }

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		socketsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "laurel_sockets_open", Help: "WebSocket connections currently open.",
		}),
		socketsMax: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "laurel_sockets_max",
			Help: "The most WebSocket connections this process accepts (max_sockets); further handshakes get 503. 0 means no cap.",
		}),
		sharedGroups: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "laurel_shared_groups",
			Help: "Groups this process holds one membership for (group_membership = \"process\").",
		}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "laurel_handshakes_total",
			Help: "WebSocket handshakes by result (accepted, rejected, unavailable) and reason.",
		}, []string{"result", "reason"}),
		fromLayer: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "laurel_layer_messages_total", Help: "Messages received from the channel layer (Redis).",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "laurel_frames_delivered_total", Help: "Frames written to sockets.",
		}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "laurel_drops_total", Help: "Events or frames discarded, by reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "laurel_delivery_latency_seconds",
			Help:    "Time from receiving a message from Redis to writing it to a socket.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		errorFrames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "laurel_error_frames_total", Help: "Error frames sent to clients, by error code.",
		}, []string{"code"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "laurel_server_closes_total", Help: "Sockets closed by the server, by close code.",
		}, []string{"code"}),
		clientActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "laurel_client_actions_total", Help: "Client actions handled, by result (ok, error).",
		}, []string{"result"}),
	}
	m.accepted = m.handshakes.WithLabelValues("accepted", "ok")
	m.actionOK = lazyCounter{vec: m.clientActions, label: "ok"}
	m.actionError = lazyCounter{vec: m.clientActions, label: "error"}
	m.drop = map[string]prometheus.Counter{}
	for _, r := range []string{DropNoType, DropMalformedType, DropNotForwarded, DropNoSocket, DropQueueFull, DropEncode} {
		m.drop[r] = m.drops.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.socketsOpen, m.socketsMax, m.sharedGroups, m.handshakes, m.fromLayer, m.delivered,
			m.drops, m.latency, m.errorFrames, m.closes, m.clientActions} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// lazyCounter is the child of a one-label CounterVec, resolved on its first
// Inc and kept: the series appears when first counted, as with
// WithLabelValues on every call, without a label lookup per call. Safe for
// concurrent use. The vector's children must never be deleted.
type lazyCounter struct {
	vec   *prometheus.CounterVec
	label string
	c     atomic.Pointer[prometheus.Counter]
}

// Inc adds one to the child.
func (l *lazyCounter) Inc() {
	if c := l.c.Load(); c != nil {
		(*c).Inc()
		return
	}
	c := l.vec.WithLabelValues(l.label)
	l.c.Store(&c)
	c.Inc()
}
