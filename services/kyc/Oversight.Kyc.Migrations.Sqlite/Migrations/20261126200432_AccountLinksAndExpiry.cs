using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Oversight.Kyc.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class AccountLinksAndExpiry : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "account_links",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    MarketplaceId = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    AccountId = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    LinkedAccountId = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Basis = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    Reason = table.Column<string>(type: "TEXT", nullable: false),
                    Actor = table.Column<string>(type: "TEXT", nullable: false),
                    ClusterVersion = table.Column<long>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_account_links", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "marketplace_cluster_states",
                columns: table => new
                {
                    MarketplaceId = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    ClusterVersion = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_marketplace_cluster_states", x => x.MarketplaceId);
                });

            migrationBuilder.CreateIndex(
                name: "IX_accounts_TierExpiresAt",
                table: "accounts",
                column: "TierExpiresAt");

            migrationBuilder.CreateIndex(
                name: "IX_account_links_MarketplaceId_AccountId",
                table: "account_links",
                columns: new[] { "MarketplaceId", "AccountId" });

            migrationBuilder.CreateIndex(
                name: "IX_account_links_MarketplaceId_LinkedAccountId",
                table: "account_links",
                columns: new[] { "MarketplaceId", "LinkedAccountId" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "account_links");

            migrationBuilder.DropTable(
                name: "marketplace_cluster_states");

            migrationBuilder.DropIndex(
                name: "IX_accounts_TierExpiresAt",
                table: "accounts");
        }
    }
}
