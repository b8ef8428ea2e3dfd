"""agents: Agent, AgentContact, TextModule, ticket assignment, stripped text, Contact reply text

Revision ID: 0006
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False, server_default=""),
        sa.Column("email", sa.String(), nullable=False, unique=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("locale", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "agentcontact",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agent.id"), nullable=False, index=True),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contact.id"), nullable=False, index=True),
        sa.UniqueConstraint("agent_id", "contact_id", name="uq_agent_contact"),
    )
    op.create_table(
        "textmodule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contact.id"), nullable=False, index=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("locale", sa.String(), nullable=False, server_default="en"),
        sa.Column("body", sa.Text(), nullable=False, server_default=""),
        sa.UniqueConstraint("contact_id", "name", "locale", name="uq_text_module"),
    )
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("reply_greeting", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reply_signature", sa.Text(), nullable=True))
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("assigned_agent_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_ticket_assigned_agent", "agent", ["assigned_agent_id"], ["id"])
        batch.create_index("ix_ticket_assigned_agent_id", ["assigned_agent_id"])
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("stripped_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("stripped_text")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index("ix_ticket_assigned_agent_id")
        batch.drop_constraint("fk_ticket_assigned_agent", type_="foreignkey")
        batch.drop_column("assigned_agent_id")
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("reply_signature")
        batch.drop_column("reply_greeting")
    op.drop_table("textmodule")
    op.drop_table("agentcontact")
    op.drop_table("agent")
