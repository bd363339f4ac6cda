//! The node's root supervisor actor: every process actor is linked to it, so the end of every
//! child that outlives its first milliseconds is a supervision event in the parent (a child
//! that has ended by then gets no actor: its end is only recorded and logged).

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

/// Messages to the root supervisor.
#[derive(Debug)]
pub(crate) enum RootMessage {}

/// The root of a node's supervision tree.
#[derive(Debug)]
pub(crate) struct RootSupervisor;

impl Actor for RootSupervisor {
    type Msg = RootMessage;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<RootMessage>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<RootMessage>,
        event: SupervisionEvent,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        // ractor's default stops the supervisor when a child stops; a child process ending is
        // an ordinary event here.
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                tracing::debug!(target: "procvisor::supervisor", actor = ?cell.get_id(), reason = reason.as_deref().unwrap_or(""), "child actor ended");
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                tracing::warn!(target: "procvisor::supervisor", actor = ?cell.get_id(), %error, "child actor failed");
            }
            _ => {}
        }
        Ok(())
    }
}
