package sfu

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// PionLogger routes Pion's internal logs into slog, so operators get one structured stream.
// Pion's Info is chatty (every candidate pair); it is logged at Debug. quietWarnings logs Warn at
// Debug too, for Pion parts whose warnings are per-packet chatter (the TURN server: a stray
// datagram, a client's retransmit); errors stay errors.
func PionLogger(log *slog.Logger, quietWarnings bool) logging.LoggerFactory {
	warn := slog.LevelWarn
	if quietWarnings {
		warn = slog.LevelDebug
	}
	return pionLoggerFactory{log: log, warn: warn}
}

type pionLoggerFactory struct {
	log  *slog.Logger
	warn slog.Level
}

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope), f.warn}
}

type pionLogger struct {
	log  *slog.Logger
	warn slog.Level
}

// logf formats only when someone reads it: Pion logs per candidate pair and per packet.
func (l pionLogger) logf(level slog.Level, f string, a ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(f, a...))
	}
}

func (l pionLogger) Trace(string)              {}
func (l pionLogger) Tracef(string, ...any)     {}
func (l pionLogger) Debug(msg string)          { l.log.Debug(msg) }
func (l pionLogger) Debugf(f string, a ...any) { l.logf(slog.LevelDebug, f, a...) }
func (l pionLogger) Info(msg string)           { l.log.Debug(msg) }
func (l pionLogger) Infof(f string, a ...any)  { l.logf(slog.LevelDebug, f, a...) }
func (l pionLogger) Warn(msg string)           { l.log.Log(context.Background(), l.warn, msg) }
func (l pionLogger) Warnf(f string, a ...any)  { l.logf(l.warn, f, a...) }
func (l pionLogger) Error(msg string)          { l.log.Error(msg) }
func (l pionLogger) Errorf(f string, a ...any) { l.logf(slog.LevelError, f, a...) }
