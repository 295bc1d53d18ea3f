using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Oversight.Attestation.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class AttestationIdPerProvider : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_ledger_AttestationId",
                table: "ledger");

            // The rows already in the ledger were recorded while ids were unique in the whole
            // deployment: false, so that a rebuild marks them the way their events were marked.
            migrationBuilder.AddColumn<bool>(
                name: "ProviderScopedId",
                table: "ledger",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateIndex(
                name: "IX_ledger_AttestationId",
                table: "ledger",
                column: "AttestationId");

            migrationBuilder.CreateIndex(
                name: "IX_ledger_MarketplaceId_ProviderId_AttestationId",
                table: "ledger",
                columns: new[] { "MarketplaceId", "ProviderId", "AttestationId" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_ledger_AttestationId",
                table: "ledger");

            migrationBuilder.DropIndex(
                name: "IX_ledger_MarketplaceId_ProviderId_AttestationId",
                table: "ledger");

            migrationBuilder.DropColumn(
                name: "ProviderScopedId",
                table: "ledger");

            migrationBuilder.CreateIndex(
                name: "IX_ledger_AttestationId",
                table: "ledger",
                column: "AttestationId",
                unique: true);
        }
    }
}
