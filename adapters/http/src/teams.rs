//! The team endpoints under `/api/v1`: who the caller is, the team directory, onboarding a
//! team by cloning a template, settings and roster (with the version they were read at, so
//! concurrent edits are refused), and the team's access keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use serde::Deserialize;
use switchboard_engine::catalog::{CatalogCommand, FaqEntry};
use switchboard_engine::team::{Team, TeamCommand};
use switchboard_schemas::envelope::Causation;
use switchboard_schemas::event::{AccessRole, Roster, TeamSettings};
use switchboard_schemas::{FaqId, StaffId, TeamId};
use uuid::Uuid;

use crate::api::{staff_id, team_id};
use crate::auth::{new_token, AccessKey, Principal};
use crate::described::Described;
use crate::dto::CommandResult;
use crate::error::ApiError;
use crate::onboarding::{checklist, ChecklistItem, WecomStatus};
use crate::params::{Label, StaffParam, TeamName, TeamParam, Text, Version};
use crate::{ApiTags, AppState};
use switchboard_schemas::bounds::MAX_TEAM_NAME_CHARS;

/// FAQ entries copied per commit when cloning a template.
const CLONE_CHUNK: usize = 200;

/// The team endpoints.
pub struct TeamsApi {
    pub(crate) state: Arc<AppState>,
}

/// A role, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything of the team.
    Viewer,
    /// Also works on sessions, the FAQ and its candidates.
    Agent,
    /// Also changes settings, roster, WeCom and access keys.
    Admin,
}

impl From<Role> for AccessRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Viewer => AccessRole::Viewer,
            Role::Agent => AccessRole::Agent,
            Role::Admin => AccessRole::Admin,
        }
    }
}

impl From<AccessRole> for Role {
    fn from(r: AccessRole) -> Self {
        match r {
            AccessRole::Viewer => Role::Viewer,
            AccessRole::Agent => Role::Agent,
            AccessRole::Admin => Role::Admin,
        }
    }
}

/// Who the caller is.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Me {
    /// True for a global administrator (every team, and onboarding).
    pub global_admin: bool,
    /// The staff id recorded on what the caller does.
    pub staff: String,
    /// The key's team (none for a global administrator).
    pub team: Option<String>,
    /// The key's role in its team (admin for a global administrator).
    pub role: Role,
    /// What the key is for.
    pub label: Option<String>,
}

/// A team in the directory.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TeamSummary {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// When it was onboarded (absent until the directory has caught up).
    pub created_at: Option<DateTime<Utc>>,
    /// The template it was cloned from.
    pub cloned_from: Option<String>,
}

/// A new team.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewTeam {
    /// Its id (letters, digits, '-', '_'): in URLs and event subjects, never changed.
    pub id: TeamParam,
    /// Its display name.
    pub name: Text<TeamName>,
    /// A team to clone: its FAQ, its policies and console settings, and its roster's
    /// categories.
    pub template: Option<TeamParam>,
    /// Also copy the template's on-call engineers (default: only the categories, to be
    /// filled in).
    #[oai(default)]
    pub copy_people: bool,
}

/// A roster as sent: category names and staff ids are trimmed and checked here, so a bad
/// one is refused with the id's own error (`not_staff`, `bad_roster`).
#[derive(Default, Deserialize)]
#[serde(default)]
struct RosterText {
    categories: BTreeMap<String, Vec<String>>,
    default: Vec<String>,
}

/// The roster sent, read and checked.
fn roster(sent: &Described<Roster>) -> Result<Roster, ApiError> {
    let sent = RosterText::deserialize(sent.value())
        .map_err(|e| ApiError::bad_request("bad_roster", format!("the roster is not understood: {e}")))?;
    let people = |ids: &[String]| ids.iter().map(|s| staff_id(s.trim())).collect::<Result<Vec<_>, _>>();
    let mut categories = BTreeMap::new();
    for (category, ids) in &sent.categories {
        let category = category.trim();
        if category.is_empty() {
            return Err(ApiError::bad_request("bad_roster", "a category name must not be empty"));
        }
        categories.insert(category.to_owned(), people(ids)?);
    }
    Ok(Roster { categories, default: people(&sent.default)? })
}

fn roster_json(roster: &Roster) -> Result<Described<Roster>, ApiError> {
    serde_json::to_value(roster)
        .map(Described::new)
        .map_err(|e| ApiError::internal(format!("the roster cannot be shown: {e}")))
}

/// A roster change.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RosterUpdate {
    /// The new roster.
    pub roster: Described<Roster>,
    /// The team version it was edited on; refused (409) if the team changed since.
    pub expected_version: Option<Version>,
}

/// A settings change.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SettingsUpdate {
    /// The complete settings.
    pub settings: Described<TeamSettings>,
    /// The team version it was edited on; refused (409) if the team changed since.
    pub expected_version: Option<Version>,
}

/// A team with everything its admin sees.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TeamDetail {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The team stream's version: send it back with a change.
    pub version: u64,
    /// The template it was cloned from.
    pub cloned_from: Option<String>,
    /// The settings in force.
    pub settings: Described<TeamSettings>,
    /// The roster in force.
    pub roster: Described<Roster>,
    /// FAQ entries.
    pub faqs: u64,
    /// The WeCom application and where its callbacks go.
    pub wecom: WecomStatus,
    /// What is left to do before the team is ready.
    pub checklist: Vec<ChecklistItem>,
}

/// An access key as listed (never its token).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct KeySummary {
    /// The key.
    pub key_id: Uuid,
    /// What it is for.
    pub label: String,
    /// What it allows.
    pub role: Role,
    /// Who acts with it.
    pub staff: String,
}

/// A key to issue.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewKey {
    /// What it is for ("Wang Fang's laptop").
    pub label: Text<Label>,
    /// What it allows.
    pub role: Role,
    /// Who acts with it: their staff id (WeCom UserID).
    pub staff: StaffParam,
}

/// A key just issued: the token is shown this once.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct IssuedKey {
    /// The key.
    pub key_id: Uuid,
    /// The token, for `Authorization: Bearer <token>`; store it now, it cannot be shown again.
    pub token: String,
    /// What it is for.
    pub label: String,
    /// What it allows.
    pub role: Role,
    /// Who acts with it.
    pub staff: String,
}

debug_redacting!(IssuedKey { key_id, label, role, staff } hiding { token });

fn settings_json(settings: &TeamSettings) -> Result<Described<TeamSettings>, ApiError> {
    serde_json::to_value(settings)
        .map(Described::new)
        .map_err(|e| ApiError::internal(format!("settings cannot be shown: {e}")))
}

impl TeamsApi {
    /// The team, once the key may act on it with `role` and it exists.
    async fn team(&self, key: &AccessKey, raw: &str, role: AccessRole) -> Result<(TeamId, Principal, Team), ApiError> {
        self.state.existing_team(key, raw, role).await
    }

    async fn detail(&self, id: &TeamId) -> Result<TeamDetail, ApiError> {
        let team = self.state.runtime.load_team(id).await?;
        let catalog = self.state.runtime.load_catalog(id).await?;
        let wecom = self.state.onboarding.status(id, &team).await;
        Ok(TeamDetail {
            id: id.to_string(),
            name: team.name.clone().unwrap_or_default(),
            version: team.version,
            cloned_from: team.cloned_from.as_ref().map(|t| t.to_string()),
            settings: settings_json(&team.settings)?,
            roster: roster_json(&team.roster)?,
            faqs: catalog.entries.len() as u64,
            checklist: checklist(&team, catalog.entries.len(), &wecom),
            wecom,
        })
    }
}

#[OpenApi(tag = "ApiTags::Teams")]
impl TeamsApi {
    /// Who the access key belongs to and what it may do.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, key: AccessKey) -> Result<Json<Me>, ApiError> {
        Ok(Json(match self.state.principal(&key).await? {
            Principal::Admin { name } => {
                Me { global_admin: true, staff: name.to_string(), team: None, role: Role::Admin, label: None }
            }
            Principal::Member { team, role, staff, label, .. } => Me {
                global_admin: false,
                staff: staff.to_string(),
                team: Some(team.to_string()),
                role: role.into(),
                label: Some(label),
            },
        }))
    }

    /// The teams the key can see: every team for a global administrator, its own otherwise.
    #[oai(path = "/teams", method = "get")]
    async fn list(&self, key: AccessKey) -> Result<Json<Vec<TeamSummary>>, ApiError> {
        match self.state.principal(&key).await? {
            Principal::Admin { .. } => {
                let rows = self.state.read_models.teams().await?;
                Ok(Json(
                    rows.into_iter()
                        .map(|r| TeamSummary {
                            id: r.team,
                            name: r.name,
                            created_at: Some(r.created_at),
                            cloned_from: r.cloned_from,
                        })
                        .collect(),
                ))
            }
            Principal::Member { team, .. } => {
                let state = self.state.runtime.load_team(&team).await?;
                let known = self.state.read_models.teams().await?.into_iter().find(|r| r.team == team.as_str());
                Ok(Json(vec![TeamSummary {
                    id: team.to_string(),
                    name: state.name.unwrap_or_default(),
                    created_at: known.map(|r| r.created_at),
                    cloned_from: state.cloned_from.map(String::from),
                }]))
            }
        }
    }

    /// Onboard a team (global administrators only), optionally cloned from a template
    /// team: its FAQ, policies, console settings and roster categories (and, with
    /// `copy_people`, its engineers). Then set up its WeCom application and issue keys.
    #[oai(path = "/teams", method = "post")]
    async fn create(&self, key: AccessKey, body: Json<NewTeam>) -> Result<Json<TeamDetail>, ApiError> {
        self.state.principal(&key).await?.require_admin()?;
        let id = team_id(body.id.trim())?;
        let name = body.name.trim();
        if name.is_empty() || name.chars().count() > MAX_TEAM_NAME_CHARS {
            return Err(ApiError::bad_request(
                "bad_team_name",
                format!("the name must have 1 to {MAX_TEAM_NAME_CHARS} characters"),
            ));
        }
        if self.state.runtime.load_team(&id).await?.name.is_some() {
            return Err(ApiError::conflict("team_exists", format!("team {id} already exists; choose another id")));
        }
        let template = match &body.template {
            Some(raw) => {
                let template_id = team_id(raw)?;
                let template = self.state.runtime.load_team(&template_id).await?;
                if template.name.is_none() {
                    return Err(ApiError::not_found(
                        "unknown_template",
                        format!("template team {template_id} does not exist"),
                    ));
                }
                let catalog = self.state.runtime.load_catalog(&template_id).await?;
                Some((template_id, template, catalog))
            }
            None => None,
        };
        // A clone with its people takes the template's on-call set-up too.
        let (mut settings, roster, on_call) = match &template {
            Some((_, team, _)) if body.copy_people => {
                (team.settings.clone(), team.roster.clone(), team.on_call.clone().map(Box::new))
            }
            Some((_, team, _)) => {
                // Without its people a clone routes by a roster of its own, filled in later.
                let categories = team.roster.categories.keys().map(|c| (c.clone(), Vec::new())).collect();
                (team.settings.clone(), Roster { categories, default: Vec::new() }, None)
            }
            None => (TeamSettings::default(), Roster::default(), None),
        };
        // A derived target speaks of the template's questions: the clone keeps its threshold
        // as one set by hand.
        settings.answer_policy.target = None;
        let cause = Causation::root(Uuid::now_v7());
        let runtime = &self.state.runtime;
        let cloned_from = template.as_ref().map(|(t, _, _)| t.clone());
        let onboard =
            TeamCommand::Onboard { name: name.to_owned(), cloned_from, settings: Box::new(settings), roster, on_call };
        runtime.team(&id, onboard, cause).await?;
        if let Some((_, _, catalog)) = &template {
            let rows: Vec<(FaqId, FaqEntry)> = catalog.entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for chunk in rows.chunks(CLONE_CHUNK) {
                runtime.catalog(&id, CatalogCommand::Import { rows: chunk.to_vec() }, cause).await?;
            }
        }
        tracing::info!(team = %id, template = ?body.template, "team onboarded");
        Ok(Json(self.detail(&id).await?))
    }

    /// A team: settings, roster, WeCom application, callback URL and what is left to do.
    #[oai(path = "/teams/:team", method = "get")]
    async fn get(&self, key: AccessKey, team: Path<TeamParam>) -> Result<Json<TeamDetail>, ApiError> {
        let (id, _, _) = self.team(&key, &team, AccessRole::Viewer).await?;
        Ok(Json(self.detail(&id).await?))
    }

    /// Replace the team's settings (team admins); validated before anything is written.
    #[oai(path = "/teams/:team/settings", method = "put")]
    async fn settings(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<SettingsUpdate>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let (id, _, _) = self.team(&key, &team, AccessRole::Admin).await?;
        let settings: TeamSettings = serde_json::from_value(body.settings.value().clone())
            .map_err(|e| ApiError::bad_request("invalid_settings", format!("the settings cannot be read: {e}")))?;
        let command = TeamCommand::Configure { settings: Box::new(settings) };
        let committed = self
            .state
            .runtime
            .team_expecting(&id, command, Causation::root(Uuid::now_v7()), body.expected_version.map(Version::get))
            .await?;
        Ok(Json(committed.into()))
    }

    /// Replace the team's on-call roster (team admins).
    #[oai(path = "/teams/:team/roster", method = "put")]
    async fn roster(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<RosterUpdate>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let (id, _, _) = self.team(&key, &team, AccessRole::Admin).await?;
        let command = TeamCommand::UpdateRoster { roster: roster(&body.roster)? };
        let committed = self
            .state
            .runtime
            .team_expecting(&id, command, Causation::root(Uuid::now_v7()), body.expected_version.map(Version::get))
            .await?;
        Ok(Json(committed.into()))
    }

    /// The team's access keys (team admins); tokens are never shown again.
    #[oai(path = "/teams/:team/keys", method = "get")]
    async fn keys(&self, key: AccessKey, team: Path<TeamParam>) -> Result<Json<Vec<KeySummary>>, ApiError> {
        let (_, _, state) = self.team(&key, &team, AccessRole::Admin).await?;
        Ok(Json(
            state
                .keys
                .iter()
                .map(|(id, k)| KeySummary {
                    key_id: *id,
                    label: k.label.clone(),
                    role: k.role.into(),
                    staff: k.staff.to_string(),
                })
                .collect(),
        ))
    }

    /// Issue an access key (team admins). The token is in this answer only.
    #[oai(path = "/teams/:team/keys", method = "post")]
    async fn issue_key(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        body: Json<NewKey>,
    ) -> Result<Json<IssuedKey>, ApiError> {
        let (id, principal, _) = self.team(&key, &team, AccessRole::Admin).await?;
        let staff: StaffId = staff_id(body.staff.trim())?;
        let issued = new_token(&id).map_err(|e| ApiError::internal(e.to_string()))?;
        let key_id = Uuid::now_v7();
        let command = TeamCommand::IssueKey {
            key_id,
            label: body.label.to_string(),
            role: body.role.into(),
            staff: staff.clone(),
            token_sha256: issued.digest,
        };
        self.state.runtime.team(&id, command, Causation::root(Uuid::now_v7())).await?;
        tracing::info!(team = %id, %key_id, role = AccessRole::from(body.role).as_str(), by = %principal.actor(), "access key issued");
        Ok(Json(IssuedKey {
            key_id,
            token: issued.token,
            label: body.label.trim().to_owned(),
            role: body.role,
            staff: staff.to_string(),
        }))
    }

    /// Revoke an access key (team admins); it stops working at once.
    #[oai(path = "/teams/:team/keys/:key_id", method = "delete")]
    async fn revoke_key(
        &self,
        key: AccessKey,
        team: Path<TeamParam>,
        key_id: Path<Uuid>,
    ) -> Result<Json<CommandResult>, ApiError> {
        let (id, principal, _) = self.team(&key, &team, AccessRole::Admin).await?;
        let committed = self
            .state
            .runtime
            .team(&id, TeamCommand::RevokeKey { key_id: key_id.0 }, Causation::root(Uuid::now_v7()))
            .await?;
        tracing::info!(team = %id, key_id = %key_id.0, by = %principal.actor(), "access key revoked");
        Ok(Json(committed.into()))
    }
}
