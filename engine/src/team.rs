//! The team aggregate: onboarding and configuration as events, so a team's behaviour at any
//! moment can be audited and a new team is onboarded by configuration alone.

use switchboard_schemas::event::{Roster, RosterUpdated, TeamConfigured, TeamCreated, TeamSettings};
use switchboard_schemas::TeamEvent;

use crate::policy::{PolicyError, TeamPolicy};

/// A team's configuration as folded from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Team {
    /// The stream version this state reflects.
    pub version: u64,
    /// The display name; `None` until the team is created.
    pub name: Option<String>,
    /// The settings in force.
    pub settings: TeamSettings,
    /// The roster in force.
    pub roster: Roster,
}

/// What can be asked of a team.
#[derive(Debug, Clone, PartialEq)]
pub enum TeamCommand {
    /// Onboards the team (a no-op if it exists with the same name).
    Create {
        /// Display name.
        name: String,
    },
    /// Replaces the settings (a no-op when unchanged).
    Configure {
        /// The new settings (boxed: they are large and the other commands small).
        settings: Box<TeamSettings>,
    },
    /// Replaces the roster (a no-op when unchanged).
    UpdateRoster {
        /// The new roster.
        roster: Roster,
    },
}

/// Why a team command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TeamRejection {
    /// Configuring a team that was never created.
    #[error("the team does not exist; create it first")]
    NotCreated,
    /// Creating a team that exists under another name.
    #[error("the team already exists as {0:?}")]
    AlreadyExists(String),
    /// The settings cannot be used.
    #[error(transparent)]
    Invalid(#[from] PolicyError),
}

impl Team {
    /// Folds one event into the state.
    pub fn apply(&mut self, event: &TeamEvent) {
        self.version += 1;
        match event {
            TeamEvent::TeamCreated(e) => self.name = Some(e.name.clone()),
            TeamEvent::TeamConfigured(e) => self.settings = e.settings.clone(),
            TeamEvent::RosterUpdated(e) => self.roster = e.roster.clone(),
        }
    }

    /// The compiled policy for the engine.
    pub fn policy(&self) -> Result<TeamPolicy, PolicyError> {
        TeamPolicy::new(self.settings.clone(), self.roster.clone())
    }

    /// Decides what a command causes.
    pub fn decide(&self, command: &TeamCommand) -> Result<Vec<TeamEvent>, TeamRejection> {
        match (command, &self.name) {
            (TeamCommand::Create { name }, None) => Ok(vec![TeamCreated { name: name.clone() }.into()]),
            (TeamCommand::Create { name }, Some(existing)) if existing == name => Ok(Vec::new()),
            (TeamCommand::Create { .. }, Some(existing)) => Err(TeamRejection::AlreadyExists(existing.clone())),
            (_, None) => Err(TeamRejection::NotCreated),
            (TeamCommand::Configure { settings }, Some(_)) => {
                TeamPolicy::new((**settings).clone(), self.roster.clone())?;
                if **settings == self.settings && self.version > 1 {
                    return Ok(Vec::new());
                }
                Ok(vec![TeamConfigured { settings: (**settings).clone() }.into()])
            }
            (TeamCommand::UpdateRoster { roster }, Some(_)) => {
                if *roster == self.roster {
                    return Ok(Vec::new());
                }
                Ok(vec![RosterUpdated { roster: roster.clone() }.into()])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_schemas::StaffId;

    fn fold(events: &[TeamEvent]) -> Team {
        let mut team = Team::default();
        events.iter().for_each(|e| team.apply(e));
        team
    }

    #[test]
    fn a_team_is_created_configured_and_rostered_once() {
        let mut team = Team::default();
        let created = team.decide(&TeamCommand::Create { name: "Ops".into() }).unwrap();
        created.iter().for_each(|e| team.apply(e));
        assert!(team.decide(&TeamCommand::Create { name: "Ops".into() }).unwrap().is_empty());
        assert_eq!(
            team.decide(&TeamCommand::Create { name: "Other".into() }),
            Err(TeamRejection::AlreadyExists("Ops".into()))
        );
        let configured = team.decide(&TeamCommand::Configure { settings: Box::new(TeamSettings::default()) }).unwrap();
        assert_eq!(configured.len(), 1, "the first configuration is recorded even if it equals the defaults");
        configured.iter().for_each(|e| team.apply(e));
        assert!(team
            .decide(&TeamCommand::Configure { settings: Box::new(TeamSettings::default()) })
            .unwrap()
            .is_empty());
        let roster = Roster { default: vec![StaffId::new("zhao").unwrap()], ..Roster::default() };
        let updated = team.decide(&TeamCommand::UpdateRoster { roster: roster.clone() }).unwrap();
        updated.iter().for_each(|e| team.apply(e));
        assert_eq!(fold(&[created, configured, updated].concat()), team);
        assert!(team.decide(&TeamCommand::UpdateRoster { roster }).unwrap().is_empty());
    }

    #[test]
    fn configuring_an_unknown_team_or_with_bad_settings_is_refused() {
        let team = Team::default();
        assert_eq!(
            team.decide(&TeamCommand::Configure { settings: Box::new(TeamSettings::default()) }),
            Err(TeamRejection::NotCreated)
        );
        let team = fold(&[TeamCreated { name: "Ops".into() }.into()]);
        let settings = TeamSettings { close_after_secs: 0, ..TeamSettings::default() };
        assert!(matches!(
            team.decide(&TeamCommand::Configure { settings: Box::new(settings) }),
            Err(TeamRejection::Invalid(_))
        ));
    }
}
