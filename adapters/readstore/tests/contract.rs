//! The read-store contract suite against both stores.

#![allow(clippy::unwrap_used)]

mod common;

mod sqlite {
    switchboard_projections::read_store_contract!(crate::common::sqlite_test_store());
}

mod postgres {
    switchboard_projections::read_store_contract!(crate::common::postgres_test_store());
}
