using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Oversight.Enforcement.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class AccountErased : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "Erased",
                table: "accounts",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Erased",
                table: "accounts");
        }
    }
}
