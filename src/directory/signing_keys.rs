//! Persistence of signing keys. The private key is stored only encrypted under the KEK; this
//! module never sees it in the clear.

use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder};

use super::entities::signing_key;
use super::{Directory, DirectoryError};

pub use signing_key::Model as SigningKeyRow;

impl Directory {
    pub async fn insert_signing_key(&self, row: SigningKeyRow) -> Result<(), DirectoryError> {
        let kid = row.kid.clone();
        let model = signing_key::ActiveModel {
            kid: Set(row.kid),
            alg: Set(row.alg),
            private_key_enc: Set(row.private_key_enc),
            kek_id: Set(row.kek_id),
            public_jwk: Set(row.public_jwk),
            created_at: Set(row.created_at),
            activates_at: Set(row.activates_at),
            retires_at: Set(row.retires_at),
            removed_at: Set(row.removed_at),
            revoked: Set(row.revoked),
        };
        signing_key::Entity::insert(model)
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| DirectoryError::from_write(e, &format!("signing key {kid}")))?;
        Ok(())
    }

    /// Every key row, oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, DirectoryError> {
        Ok(signing_key::Entity::find()
            .order_by_asc(signing_key::Column::CreatedAt)
            .order_by_asc(signing_key::Column::Kid)
            .all(&self.db)
            .await?)
    }
}

impl Directory {
    /// Writes back a key's schedule, revocation or sealing (the kid never changes).
    pub async fn update_signing_key(&self, row: &SigningKeyRow) -> Result<bool, DirectoryError> {
        use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
        let result = signing_key::Entity::update_many()
            .col_expr(signing_key::Column::PrivateKeyEnc, Expr::value(row.private_key_enc.clone()))
            .col_expr(signing_key::Column::KekId, Expr::value(row.kek_id.clone()))
            .col_expr(signing_key::Column::ActivatesAt, Expr::value(row.activates_at))
            .col_expr(signing_key::Column::RetiresAt, Expr::value(row.retires_at))
            .col_expr(signing_key::Column::RemovedAt, Expr::value(row.removed_at))
            .col_expr(signing_key::Column::Revoked, Expr::value(row.revoked))
            .filter(signing_key::Column::Kid.eq(row.kid.as_str()))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }
}
