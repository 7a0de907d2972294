//! The read-store contract suite against both stores.

#![allow(clippy::unwrap_used)]

mod common;

mod sqlite {
    switchboard_testkit::read_store_contract!(crate::common::sqlite_test_store());
}

mod postgres {
    switchboard_testkit::read_store_contract!(crate::common::postgres_test_store());
}

mod sqlite_outbox {
    switchboard_testkit::outbox_contract!(crate::common::sqlite_outbox_store());
}

mod postgres_outbox {
    switchboard_testkit::outbox_contract!(crate::common::postgres_outbox_store());
}
