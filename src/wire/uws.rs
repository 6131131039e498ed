//! UWS 1.1 execution phases, as TAP services and clients name them on the
//! wire (`<uws:phase>`, `PHASE=` parameters, `GET <job>/phase`). Shared by
//! the sandbox's TAP service and the TAP client.

/// A UWS execution phase (UWS 1.1 §2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Queued,
    Executing,
    Completed,
    Error,
    Aborted,
    Unknown,
    Held,
    Suspended,
    Archived,
}

impl Phase {
    /// Every phase, in the standard's order.
    pub const ALL: [Phase; 10] = [
        Phase::Pending,
        Phase::Queued,
        Phase::Executing,
        Phase::Completed,
        Phase::Error,
        Phase::Aborted,
        Phase::Unknown,
        Phase::Held,
        Phase::Suspended,
        Phase::Archived,
    ];

    /// A phase name, any case; `RUN` (pyvo's word for an active job) is EXECUTING.
    pub fn parse(s: &str) -> Option<Phase> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("RUN") {
            return Some(Phase::Executing);
        }
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "PENDING",
            Phase::Queued => "QUEUED",
            Phase::Executing => "EXECUTING",
            Phase::Completed => "COMPLETED",
            Phase::Error => "ERROR",
            Phase::Aborted => "ABORTED",
            Phase::Unknown => "UNKNOWN",
            Phase::Held => "HELD",
            Phase::Suspended => "SUSPENDED",
            Phase::Archived => "ARCHIVED",
        }
    }

    /// The job will not change phase by itself any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Completed | Phase::Error | Phase::Aborted | Phase::Archived
        )
    }

    /// Phases in which a blocking `WAIT` waits (UWS 1.1 §2.2.1.1).
    pub fn active(self) -> bool {
        matches!(self, Phase::Pending | Phase::Queued | Phase::Executing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
            assert_eq!(Phase::parse(&p.as_str().to_lowercase()), Some(p));
        }
        assert_eq!(Phase::parse(" run "), Some(Phase::Executing));
        assert_eq!(Phase::parse("DONE"), None);
    }
}
